"""A deterministic fake backend for tests (pure stdlib).

Text is a function of (model, messages, seed, sample index) through a hash, so the same request
always gets the same answer and two models answer the same prompt differently. Greedy requests
(temperature 0) ignore the seed and give n identical samples, as a real server does. Unlike a real
server, an unseeded sampled request is deterministic too (the seed ``None`` is hashed).

The loopback OpenAI-compatible server (:mod:`evalhub.generation.testing_server`) uses the same
text function, so a fake and an HTTP run of the same requests give the same texts.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Mapping, Sequence

from evalhub.generation.base import (
    Completion,
    GenerationError,
    GenerationRequest,
    GenerationResult,
    Message,
    OnResult,
    SamplingParams,
    ensure_unique_ids,
)

WORDS = (
    "thanks",
    "order",
    "refund",
    "shipping",
    "account",
    "billing",
    "product",
    "team",
    "update",
    "parcel",
    "invoice",
    "payment",
    "address",
    "password",
    "delivery",
    "replacement",
    "warranty",
    "store",
    "card",
    "charge",
    "tracking",
    "return",
    "label",
    "email",
    "support",
    "today",
    "soon",
    "please",
    "help",
    "check",
    "sorry",
    "happy",
    "review",
    "days",
    "business",
    "week",
    "number",
    "details",
    "confirm",
    "receive",
    "send",
    "issue",
    "request",
)


def prompt_token_count(messages: Sequence[Message]) -> int:
    """A crude token count (whitespace words) used by the fakes."""
    return sum(len(m["content"].split()) for m in messages)


def deterministic_completion(
    *, model: str, messages: Sequence[Message], params: SamplingParams, index: int
) -> Completion:
    """The fake answer for sample ``index`` of a request: sentences of words from a hash."""
    key = [model, [dict(m) for m in messages]]
    if not params.greedy:
        key += [params.seed, index, params.temperature, params.top_p]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 40))]
    finish_reason = "stop"
    if len(words) > params.max_tokens:
        words, finish_reason = words[: params.max_tokens], "length"
    sentences = [words[i : i + 7] for i in range(0, len(words), 7)]
    text = " ".join(" ".join(s).capitalize() + "." for s in sentences)
    for stop in params.stop:
        cut = text.find(stop)
        if cut != -1:
            text, finish_reason = text[:cut], "stop"
    return Completion(
        text=text,
        finish_reason=finish_reason,
        prompt_tokens=prompt_token_count(messages),
        completion_tokens=len(text.split()),
    )


class FakeBackend:
    """Deterministic :class:`~evalhub.generation.base.Backend` for tests.

    ``failures`` maps a request id to the error message its result should carry; a request to a
    model not in ``models`` fails like an unknown model on a real server. ``requests_seen`` keeps
    every request handed to :meth:`generate`, in order.
    """

    endpoint = "fake://"

    def __init__(
        self,
        models: Sequence[str] = ("fake-base", "fake-candidate"),
        *,
        failures: Mapping[str, str] | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.models = list(models)
        self.failures = dict(failures or {})
        self.latency_s = latency_s
        self.requests_seen: list[GenerationRequest] = []

    def list_models(self) -> list[str]:
        return list(self.models)

    def generate(
        self, requests: Sequence[GenerationRequest], *, on_result: OnResult | None = None
    ) -> list[GenerationResult]:
        ensure_unique_ids(requests)
        results = []
        for request in requests:
            result = self._one(request)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def _one(self, request: GenerationRequest) -> GenerationResult:
        self.requests_seen.append(request)
        started = time.perf_counter()
        if self.latency_s:
            time.sleep(self.latency_s)
        error = None
        if request.request_id in self.failures:
            error = self.failures[request.request_id]
        elif request.model not in self.models:
            error = f"model is not served; served: {self.models}"
        if error is not None:
            failure = GenerationError(error, endpoint=self.endpoint, model=request.model)
            return GenerationResult(request.request_id, (), _ms_since(started), str(failure))
        completions = tuple(
            deterministic_completion(
                model=request.model, messages=request.messages, params=request.params, index=i
            )
            for i in range(request.params.n)
        )
        return GenerationResult(request.request_id, completions, _ms_since(started))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
