"""The pure interface (messages, parameters, results) and the deterministic fake backend."""

from __future__ import annotations

import dataclasses

import pytest

from evalhub.generation import (
    Backend,
    GenerationError,
    GenerationRequest,
    SamplingParams,
    build_messages,
)
from evalhub.generation.fake import FakeBackend


def test_build_messages_from_alpaca_fields_and_history():
    messages = build_messages(
        system="You are a support agent.",
        history=[["Hi", "Hello! How can I help?"]],
        instruction="Summarise the customer's problem.",
        input="My parcel never arrived.",
    )
    assert messages == (
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {
            "role": "user",
            "content": "Summarise the customer's problem.\n\nMy parcel never arrived.",
        },
    )


def test_build_messages_minimal_and_invalid():
    assert build_messages(instruction="Help") == ({"role": "user", "content": "Help"},)
    assert build_messages(system="  ", input="Only input") == (
        {"role": "user", "content": "Only input"},
    )
    with pytest.raises(ValueError, match="instruction or an input"):
        build_messages(system="s")
    with pytest.raises(ValueError, match=r"\[user, assistant\]"):
        build_messages(history=[["only one"]], instruction="x")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"stop": [""]}, "stop"),
    ],
)
def test_sampling_params_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplingParams(**kwargs)


def test_sampling_params_are_frozen_and_hashable():
    params = SamplingParams(temperature=0, stop=["\n\n"])
    assert params.stop == ("\n\n",) and params.greedy
    assert hash(params) == hash(SamplingParams(temperature=0, stop=("\n\n",)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.n = 2  # type: ignore[misc]


def test_request_validates_messages():
    with pytest.raises(ValueError, match="role"):
        GenerationRequest("r", ({"role": "robot", "content": "x"},), "m")
    with pytest.raises(ValueError, match="non-empty"):
        GenerationRequest("r", (), "m")


def test_generation_error_names_endpoint_and_model():
    error = GenerationError("HTTP 500: boom", endpoint="http://h/v1", model="m", attempts=3)
    assert str(error) == "http://h/v1 model 'm': HTTP 500: boom (after 3 attempts)"


def test_fake_backend_is_deterministic_and_fails_on_request():
    backend = FakeBackend(["base", "cand"], failures={"bad": "simulated outage"})
    assert isinstance(backend, Backend)
    messages = build_messages(instruction="Where is my refund?")
    requests = [
        GenerationRequest("a", messages, "base", SamplingParams(seed=1, n=2)),
        GenerationRequest("b", messages, "cand", SamplingParams(seed=1, n=2)),
        GenerationRequest("bad", messages, "base"),
        GenerationRequest("unknown", messages, "nope"),
        GenerationRequest("greedy", messages, "base", SamplingParams(temperature=0, n=2)),
    ]
    seen = []
    a, b, bad, unknown, greedy = backend.generate(requests, on_result=seen.append)

    assert len(seen) == 5
    assert a.completions == FakeBackend(["base"]).generate(requests[:1])[0].completions
    assert a.completions[0].text != a.completions[1].text  # two samples
    assert a.completions[0].text != b.completions[0].text  # two models
    assert greedy.completions[0] == greedy.completions[1]
    assert bad.error == "fake:// model 'base': simulated outage"
    assert "not served" in unknown.error
    assert len(backend.requests_seen) == 5
