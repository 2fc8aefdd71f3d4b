"""The OpenAI-compatible backend against the loopback server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest

from evalhub.generation import (
    GenerationError,
    GenerationRequest,
    SamplingParams,
    build_messages,
)
from evalhub.generation.fake import deterministic_completion
from evalhub.generation.openai_compat import normalize_base_url, split_tokens

MODELS = ["tiny-base", "tiny-warm"]


def make_request(
    request_id: str, *, model: str = "tiny-base", text: str = "Where is my parcel?", **params
) -> GenerationRequest:
    params.setdefault("seed", 7)
    return GenerationRequest(
        request_id=request_id,
        messages=build_messages(system="Be kind.", instruction=text),
        model=model,
        params=SamplingParams(**params),
    )


@pytest.fixture
def server(loopback_server):
    return loopback_server(models=MODELS)


def test_results_come_back_in_order_with_n_completions(server, openai_backend):
    backend = openai_backend(server.base_url)
    requests = [
        make_request(f"r{i}", model=MODELS[i % 2], text=f"question {i}", n=3) for i in range(6)
    ]

    results = backend.generate(requests)

    assert [r.request_id for r in results] == [r.request_id for r in requests]
    for request, result in zip(requests, results, strict=True):
        assert result.ok and result.attempts == 1
        assert len(result.completions) == 3
        expected = [
            deterministic_completion(
                model=request.model, messages=request.messages, params=request.params, index=i
            ).text
            for i in range(3)
        ]
        assert [c.text for c in result.completions] == expected
        assert len(set(expected)) == 3  # n samples differ
        assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in result.completions)
        assert result.latency_ms > 0


def test_request_fields_reach_the_server(server, openai_backend):
    backend = openai_backend(server.base_url)
    request = make_request(
        "r1", model="tiny-warm", temperature=0.5, top_p=0.9, max_tokens=12, n=2, stop=["##"]
    )

    backend.generate([request])

    body = server.bodies[0]
    assert body["model"] == "tiny-warm"
    assert body["messages"] == [dict(m) for m in request.messages]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.5, 0.9, 12)
    assert (body["n"], body["seed"], body["stop"]) == (2, 7, ["##"])


def test_unseeded_requests_send_no_seed(server, openai_backend):
    openai_backend(server.base_url).generate([make_request("r1", seed=None)])
    assert "seed" not in server.bodies[0] and "stop" not in server.bodies[0]


def test_same_seed_same_text_other_seed_other_text(server, openai_backend):
    backend = openai_backend(server.base_url)
    first, again, other = backend.generate(
        [make_request("a", seed=1), make_request("b", seed=1), make_request("c", seed=2)]
    )
    assert first.completions[0].text == again.completions[0].text
    assert first.completions[0].text != other.completions[0].text


def test_length_finish_reason_when_max_tokens_hit(server, openai_backend):
    (result,) = openai_backend(server.base_url).generate([make_request("r", max_tokens=3)])
    assert result.completions[0].finish_reason == "length"
    assert len(result.completions[0].text.split()) == 3


@pytest.mark.parametrize("failure", [429, 500, 503, "drop"])
def test_transient_failures_are_retried_then_succeed(loopback_server, openai_backend, failure):
    server = loopback_server(models=MODELS, fail_first=2, failure=failure)
    backend = openai_backend(server.base_url, max_retries=3)

    (result,) = backend.generate([make_request("r1")])

    assert result.ok, result.error
    assert result.attempts == 3
    assert server.chat_requests == 3


def test_retries_give_up_with_an_error_naming_endpoint_and_model(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, fail_first=100, failure=500)
    backend = openai_backend(server.base_url, max_retries=2)

    (result,) = backend.generate([make_request("r1", model="tiny-warm")])

    assert not result.ok and result.completions == ()
    assert server.base_url in result.error and "'tiny-warm'" in result.error
    assert "HTTP 500" in result.error and "injected failure 500" in result.error
    assert "after 3 attempts" in result.error
    assert server.chat_requests == 3


@pytest.mark.parametrize("failure", [400, 401, 422])
def test_other_client_errors_are_not_retried(loopback_server, openai_backend, failure):
    server = loopback_server(models=MODELS, fail_first=1, failure=failure)
    (result,) = openai_backend(server.base_url).generate([make_request("r1")])
    assert f"HTTP {failure}" in result.error
    assert server.chat_requests == 1


def test_unknown_model_is_a_404_not_retried(server, openai_backend):
    backend = openai_backend(server.base_url)
    ok, unknown = backend.generate([make_request("ok"), make_request("bad", model="no-such")])
    assert ok.ok
    assert "HTTP 404" in unknown.error and "does not exist" in unknown.error
    assert "'no-such'" in unknown.error and server.base_url in unknown.error
    assert server.chat_requests == 2


def test_timeouts_are_retried_then_recorded_clearly(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, latency_s=1.0)
    backend = openai_backend(server.base_url, timeout_s=0.2, max_retries=1)

    started = time.perf_counter()
    (result,) = backend.generate([make_request("r1")])

    assert time.perf_counter() - started < 0.9
    assert "timed out after 0.2 s" in result.error
    assert server.base_url in result.error and "'tiny-base'" in result.error
    assert result.attempts == 2
    assert server.chat_requests == 2


def test_malformed_json_is_a_clear_per_request_error(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, fail_first=1, failure="malformed")
    backend = openai_backend(server.base_url, max_concurrency=1)

    broken, fine = backend.generate([make_request("r1"), make_request("r2")])

    assert "malformed response" in broken.error and server.base_url in broken.error
    assert fine.ok
    assert server.chat_requests == 2  # not retried


def test_concurrency_is_bounded(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, latency_s=0.05)
    backend = openai_backend(server.base_url, max_concurrency=4)

    results = backend.generate([make_request(f"r{i}", text=f"q{i}") for i in range(24)])

    assert all(r.ok for r in results)
    assert server.max_in_flight == 4


def test_concurrency_bound_holds_across_calls_from_several_threads(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, latency_s=0.05)
    backend = openai_backend(server.base_url, max_concurrency=3)

    def run(prefix: str) -> None:
        backend.generate([make_request(f"{prefix}{i}") for i in range(6)])

    threads = [threading.Thread(target=run, args=(p,)) for p in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert server.chat_requests == 18
    assert server.max_in_flight == 3


def test_on_result_is_called_in_the_caller_thread_for_every_request(server, openai_backend):
    seen: list[tuple[str, str]] = []
    backend = openai_backend(server.base_url)
    backend.generate(
        [make_request(f"r{i}") for i in range(5)],
        on_result=lambda r: seen.append((r.request_id, threading.current_thread().name)),
    )
    assert sorted(rid for rid, _ in seen) == [f"r{i}" for i in range(5)]
    assert {name for _, name in seen} == {threading.current_thread().name}


def test_an_exception_in_on_result_stops_the_batch(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, latency_s=0.05)
    backend = openai_backend(server.base_url, max_concurrency=1)

    def stop(_result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend.generate([make_request(f"r{i}") for i in range(20)], on_result=stop)
    time.sleep(0.1)
    assert server.chat_requests < 5


def test_backoff_grows_exponentially_with_jitter(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, fail_first=3, failure=503)
    delays: list[float] = []
    backend = openai_backend(
        server.base_url, backoff_s=0.1, backoff_max_s=10, sleep=delays.append, jitter_seed=1
    )

    (result,) = backend.generate([make_request("r1")])

    assert result.ok
    assert len(delays) == 3
    for delay, ceiling in zip(delays, [0.1, 0.2, 0.4], strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_is_honoured_up_to_the_cap(loopback_server, openai_backend):
    server = loopback_server(models=MODELS, fail_first=1, failure=429, retry_after_s=2)
    delays: list[float] = []
    backend = openai_backend(
        server.base_url, backoff_s=0.01, backoff_max_s=1.5, sleep=delays.append
    )
    (result,) = backend.generate([make_request("r1")])
    assert result.ok and delays == [1.5]


def test_list_models_and_check_served(server, openai_backend):
    backend = openai_backend(server.base_url)
    assert backend.list_models() == MODELS
    backend.check_served("tiny-warm")
    with pytest.raises(GenerationError) as info:
        backend.check_served("tiny-cold")
    message = str(info.value)
    assert server.base_url in message and "'tiny-cold'" in message
    assert "tiny-base, tiny-warm" in message
    assert info.value.status == 404


def test_unreachable_endpoint_fails_per_request_and_in_list_models(openai_backend):
    backend = openai_backend("http://127.0.0.1:9/v1", max_retries=1)  # discard port: refused
    (result,) = backend.generate([make_request("r1")])
    assert "connection failed" in result.error and "127.0.0.1:9" in result.error
    with pytest.raises(GenerationError, match="connection failed"):
        backend.list_models()


def test_duplicate_request_ids_are_refused(server, openai_backend):
    with pytest.raises(ValueError, match="duplicate request_id"):
        openai_backend(server.base_url).generate([make_request("x"), make_request("x")])


def test_empty_batch(server, openai_backend):
    assert openai_backend(server.base_url).generate([]) == []


def test_base_url_normalisation():
    assert normalize_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert normalize_base_url("https://proxy/llm/v1") == "https://proxy/llm/v1"
    with pytest.raises(ValueError, match="http"):
        normalize_base_url("h:8000")


def test_split_tokens_sums_to_total():
    assert split_tokens(10, ["a" * 10, "a" * 30]) == [3, 7]
    assert sum(split_tokens(7, ["ab", "abc", "a"])) == 7
    assert split_tokens(0, ["x"]) == [0]
