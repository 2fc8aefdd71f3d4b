"""OpenAI-compatible HTTP backend, for vLLM's server (one base model plus LoRA adapters).

A request's ``model`` is the served name: the base model's name or a LoRA adapter's name as given
to ``vllm serve --enable-lora --lora-modules name=path``.

Retry policy (ours; the openai client's own retries are switched off so this is the one that
applies): 429, 5xx, connection errors and timeouts are retried up to ``max_retries`` times with
exponential backoff and jitter (a ``Retry-After`` header, when sent, lengthens the wait up to
``backoff_max_s``); other 4xx and malformed answers fail at once. ``timeout_s`` bounds each
attempt's connect and each read; retries add to the wall time.

vLLM reports one token count for all ``n`` samples of a request; this backend splits it between
the samples in proportion to their text lengths (the sum is exact, the split an estimate).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import openai

from evalhub.generation.base import (
    Completion,
    GenerationError,
    GenerationRequest,
    GenerationResult,
    OnResult,
    ensure_unique_ids,
)

T = TypeVar("T")


class OpenAICompatBackend:
    """A :class:`~evalhub.generation.base.Backend` over an OpenAI-compatible server.

    ``base_url`` is the API root, e.g. ``http://gpu-host:8000/v1`` (``/v1`` is added when the
    URL has no path). At most ``max_concurrency`` requests are in flight at once, across all
    calls to :meth:`generate` on this instance. Close it (or use it as a context manager) to free
    its threads and connections.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "EMPTY",
        max_concurrency: int = 16,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        jitter_seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.endpoint = normalize_base_url(base_url)
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._rng = random.Random(jitter_seed)
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=self.endpoint,
            api_key=api_key,
            max_retries=0,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- Backend ---------------------------------------------------------------------------

    def generate(
        self, requests: Sequence[GenerationRequest], *, on_result: OnResult | None = None
    ) -> list[GenerationResult]:
        ensure_unique_ids(requests)
        results: list[GenerationResult | None] = [None] * len(requests)
        pool = self._executor()
        futures: dict[Future[GenerationResult], int] = {
            pool.submit(self._generate_one, request): i for i, request in enumerate(requests)
        }
        try:
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if on_result is not None:
                    on_result(result)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return [r for r in results if r is not None]

    def list_models(self) -> list[str]:
        page = self._with_retries("(list models)", self._client.models.list)[0]
        return [m.id for m in page.data]

    def check_served(self, model: str) -> None:
        """Raise :class:`GenerationError` unless ``model`` (a base or adapter name) is served."""
        served = self.list_models()
        if model not in served:
            raise GenerationError(
                f"model is not served; served models: {', '.join(served) or '(none)'}. "
                "Check the name, or start vLLM with --enable-lora --lora-modules name=path "
                "for an adapter.",
                endpoint=self.endpoint,
                model=model,
                status=404,
            )

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        self._client.close()

    def __enter__(self) -> OpenAICompatBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request -----------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_concurrency, thread_name_prefix="openai-generate"
                )
            return self._pool

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        started = time.perf_counter()
        params = request.params
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "n": params.n,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        try:
            response, attempts = self._with_retries(
                request.model, lambda: self._client.chat.completions.create(**kwargs)
            )
            completions = self._completions(response, request)
        except GenerationError as exc:
            elapsed = (time.perf_counter() - started) * 1000.0
            return GenerationResult(request.request_id, (), elapsed, str(exc), exc.attempts)
        elapsed = (time.perf_counter() - started) * 1000.0
        return GenerationResult(request.request_id, completions, elapsed, None, attempts)

    def _with_retries(self, model: str, call: Callable[[], T]) -> tuple[T, int]:
        attempt = 1
        while True:
            try:
                return call(), attempt
            except Exception as exc:
                error = self._classify(exc, model)
                if not error.retryable or attempt > self.max_retries:
                    raise error.with_attempts(attempt) from exc
                self._sleep(self._backoff_delay(attempt, exc))
                attempt += 1

    def _backoff_delay(self, attempt: int, exc: Exception) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        retry_after = _retry_after_s(exc)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def _classify(self, exc: Exception, model: str) -> GenerationError:
        def error(message: str, *, status: int | None = None, retryable: bool) -> GenerationError:
            return GenerationError(
                message, endpoint=self.endpoint, model=model, status=status, retryable=retryable
            )

        if isinstance(exc, openai.APITimeoutError):
            return error(f"timed out after {self.timeout_s:g} s", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return error(f"connection failed: {type(cause).__name__}: {cause}", retryable=True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retryable = status == 429 or status >= 500
            return error(
                f"HTTP {status}: {_server_message(exc)}", status=status, retryable=retryable
            )
        if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
            return error(f"malformed response: {exc}", retryable=False)
        return error(f"unexpected error: {type(exc).__name__}: {exc}", retryable=False)

    def _completions(self, response: Any, request: GenerationRequest) -> tuple[Completion, ...]:
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or len(choices) != request.params.n:
            got = len(choices) if isinstance(choices, list) else "no"
            raise GenerationError(
                f"malformed response: expected {request.params.n} choices, got {got}",
                endpoint=self.endpoint,
                model=request.model,
            )
        choices = sorted(choices, key=lambda c: c.index or 0)
        texts = [(c.message.content or "") if c.message else "" for c in choices]
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        shares = split_tokens(int(getattr(usage, "completion_tokens", 0) or 0), texts)
        return tuple(
            Completion(
                text=text,
                finish_reason=choice.finish_reason or "stop",
                prompt_tokens=prompt_tokens,
                completion_tokens=share,
            )
            for choice, text, share in zip(choices, texts, shares, strict=True)
        )


def normalize_base_url(base_url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; other paths are kept as given."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint must be an http(s) URL like http://host:8000/v1, got {url!r}")
    return url if parts.path else f"{url}/v1"


def split_tokens(total: int, texts: Sequence[str]) -> list[int]:
    """Split ``total`` tokens between texts in proportion to their lengths; sums to ``total``."""
    if not texts:
        return []
    weights = [len(t) or 1 for t in texts]
    shares = [total * w // sum(weights) for w in weights]
    for i in range(total - sum(shares)):  # hand out the rounding remainder
        shares[i % len(shares)] += 1
    return shares


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    return exc.message


def _retry_after_s(exc: Exception) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    value = exc.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date; the exponential backoff applies
