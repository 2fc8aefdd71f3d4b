"""The 4 workbench suggestions: both models asked at once, two samples each, under a hard limit.

Both requests go out together on a small thread pool (``suggestions_start``); the agent waits
for the slower one, never for the sum. ``suggestions_collect`` waits for them, at most until
``FEEDBACK_WORKBENCH_TIMEOUT_S`` (default 8 s) after the start; past it the agent is told that
suggestions are not available (a request still running finishes in the background and is
dropped). It can also wait less (``wait_s``) and report "not yet": the page that opens a
conversation waits a moment for them and otherwise lets its script fetch them, which finds the
same generation still running (``in_flight``: per process, keyed by the turn).

Sampling: the baseline's generation defaults for both models (so they answer under the same
conditions, as campaign generation's "shared" mode), ``n = 2``, unseeded; a greedy default
(temperature 0) becomes 0.7, since two greedy samples would be the same text. Backends come from
``evalhub.services.generation.model_version_backend`` (cached per process); they are resolved
on the pool too, so the time limit covers everything (the first call in a process imports the
HTTP client). Nothing on the pool touches the database.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from evalhub.generation.base import (
    Completion,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    build_messages,
)
from evalhub.models import Campaign, ModelVersion, Prompt
from evalhub.services.errors import ServiceError
from evalhub.services.generation import model_version_backend

logger = logging.getLogger(__name__)

SIDES = ("baseline", "candidate")
SAMPLES_PER_MODEL = 2
GREEDY_REPLACEMENT_TEMPERATURE = 0.7
IN_FLIGHT_GRACE_S = 60.0  # an unclaimed generation is forgotten this long after its time limit
_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="workbench-suggest")

AGENT_MESSAGE = (
    "Suggestions are not available right now ({why}). Write your own reply below, "
    "or try again in a moment."
)


class GenerationUnavailable(ServiceError):
    """Suggestions could not be made. ``message`` is safe to show an agent (it never names a
    model or an endpoint); ``reason`` is the full story for the server log and the turn row."""

    status_code = 503
    code = "generation_unavailable"

    def __init__(self, why: str, *, reason: str) -> None:
        super().__init__(AGENT_MESSAGE.format(why=why))
        self.reason = reason


@dataclass(frozen=True)
class SideSuggestions:
    side: str
    completions: tuple[Completion, ...]
    latency_ms: float
    params: dict[str, Any]


@dataclass
class PendingSuggestions:
    """Both models' requests, under way."""

    futures: dict[str, Future[GenerationResult]]
    params: dict[str, Any]
    started: float = field(default_factory=time.monotonic)


def suggestion_params(campaign: Campaign) -> dict[str, Any]:
    defaults = campaign.baseline.generation_defaults
    temperature = float(defaults["temperature"] or 0.0) or GREEDY_REPLACEMENT_TEMPERATURE
    return {
        "temperature": temperature,
        "top_p": float(defaults["top_p"] or 1.0),
        "max_tokens": int(defaults["max_tokens"] or 256),
        "seed": None,
        "n": SAMPLES_PER_MODEL,
    }


def _generate_side(
    version: ModelVersion, messages: Any, sampling: SamplingParams, side: str
) -> GenerationResult:
    """Resolve the version's backend and ask it. ``version.parent`` must be loaded already."""
    backend, model = model_version_backend(version)
    request = GenerationRequest(f"workbench-{uuid.uuid4().hex}-{side}", messages, model, sampling)
    return backend.generate([request])[0]


def suggestions_start(*, campaign: Campaign, prompt: Prompt) -> PendingSuggestions:
    """Ask both models now (``campaign`` with baseline/candidate and their parents loaded)."""
    params = suggestion_params(campaign)
    try:
        messages = build_messages(
            prompt.system, prompt.history or (), prompt.instruction, prompt.input
        )
    except ValueError as error:
        raise GenerationUnavailable("the conversation cannot be sent", reason=str(error)) from error
    sampling = SamplingParams(**params)
    futures = {
        side: _pool.submit(_generate_side, getattr(campaign, side), messages, sampling, side)
        for side in SIDES
    }
    return PendingSuggestions(futures=futures, params=params)


def suggestions_collect(
    pending: PendingSuggestions, *, timeout_s: float, wait_s: float | None = None
) -> dict[str, SideSuggestions] | None:
    """The suggestions once both models answered; None if ``wait_s`` ran out first while the
    time limit (``timeout_s`` after the start) has not; GenerationUnavailable past the limit or
    on any failure."""
    deadline = pending.started + timeout_s
    budget = deadline - time.monotonic()
    if wait_s is not None:
        budget = min(budget, wait_s)
    _done, late = wait(pending.futures.values(), timeout=max(0.0, budget))
    if late:
        if time.monotonic() < deadline:
            return None
        for future in late:
            future.cancel()
        slow = [side for side, future in pending.futures.items() if future in late]
        raise GenerationUnavailable(
            f"no answer within {timeout_s:g} s",
            reason=f"timed out after {timeout_s:g} s waiting for {', '.join(slow)}",
        )
    suggestions = {}
    for side, future in pending.futures.items():
        try:
            result = future.result()
        except ServiceError as error:  # e.g. an imported model: it cannot generate
            raise GenerationUnavailable(
                "the models cannot be reached", reason=str(error)
            ) from error
        except Exception as error:  # a backend bug must not take the page down
            logger.exception("workbench generation crashed for %s", side)
            raise GenerationUnavailable("generation failed", reason=repr(error)) from error
        if not result.ok or len(result.completions) != SAMPLES_PER_MODEL:
            raise GenerationUnavailable(
                "generation failed", reason=f"{side}: {result.error or 'too few samples'}"
            )
        if any(not c.text.strip() for c in result.completions):
            raise GenerationUnavailable("a suggestion came back empty", reason=f"{side}: empty")
        suggestions[side] = SideSuggestions(
            side, result.completions, result.latency_ms, pending.params
        )
    return suggestions


def suggestions_generate(
    *, campaign: Campaign, prompt: Prompt, timeout_s: float
) -> dict[str, SideSuggestions]:
    """Two suggestions from each model, or GenerationUnavailable (within ``timeout_s``)."""
    result = suggestions_collect(
        suggestions_start(campaign=campaign, prompt=prompt), timeout_s=timeout_s
    )
    assert result is not None
    return result


# -- generations under way in this process, by turn --------------------------------------------

_in_flight: dict[int, PendingSuggestions] = {}
_in_flight_lock = threading.Lock()


def in_flight_get(key: int) -> PendingSuggestions | None:
    with _in_flight_lock:
        return _in_flight.get(key)


def in_flight_put(key: int, pending: PendingSuggestions, *, timeout_s: float) -> None:
    forget_before = time.monotonic() - timeout_s - IN_FLIGHT_GRACE_S
    with _in_flight_lock:
        for stale in [k for k, p in _in_flight.items() if p.started < forget_before]:
            del _in_flight[stale]
        _in_flight[key] = pending


def in_flight_drop(key: int) -> None:
    with _in_flight_lock:
        _in_flight.pop(key, None)
