"""The 4 workbench suggestions: both models asked at once, two samples each, under a hard limit.

Both requests go out together on a small thread pool; the agent waits for the slower one, never
for the sum. Past ``FEEDBACK_WORKBENCH_TIMEOUT_S`` (default 8 s) the call gives up and the agent
is told that suggestions are not available (a request still running finishes in the background
and is dropped). Sampling: the baseline's generation defaults for both models (so they answer
under the same conditions, as campaign generation's "shared" mode), ``n = 2``, unseeded; a
greedy default (temperature 0) becomes 0.7, since two greedy samples would be the same text.

Backends come from ``evalhub.services.generation.model_version_backend`` (cached per process).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
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
    """Resolve the version's backend and ask it; runs on the pool, so the time limit covers it
    all (the first call in a process imports the HTTP client). ``version.parent`` must be loaded
    already: nothing here touches the database."""
    backend, model = model_version_backend(version)
    request = GenerationRequest(f"workbench-{uuid.uuid4().hex}-{side}", messages, model, sampling)
    return backend.generate([request])[0]


def suggestions_generate(
    *, campaign: Campaign, prompt: Prompt, timeout_s: float
) -> dict[str, SideSuggestions]:
    """Two suggestions from each model, or GenerationUnavailable (within ``timeout_s``)."""
    params = suggestion_params(campaign)
    try:
        messages = build_messages(
            prompt.system, prompt.history or (), prompt.instruction, prompt.input
        )
    except ValueError as error:
        raise GenerationUnavailable("the conversation cannot be sent", reason=str(error)) from error
    sampling = SamplingParams(**params)
    started = time.perf_counter()
    futures: dict[str, Future[GenerationResult]] = {
        side: _pool.submit(_generate_side, getattr(campaign, side), messages, sampling, side)
        for side in SIDES
    }
    _done, late = wait(futures.values(), timeout=timeout_s)
    if late:
        for future in late:
            future.cancel()
        slow = [side for side, future in futures.items() if future in late]
        raise GenerationUnavailable(
            f"no answer within {timeout_s:g} s",
            reason=f"timed out after {timeout_s:g} s waiting for {', '.join(slow)}",
        )
    suggestions = {}
    for side, future in futures.items():
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
        suggestions[side] = SideSuggestions(side, result.completions, result.latency_ms, params)
    logger.debug("workbench suggestions in %.0f ms", (time.perf_counter() - started) * 1000)
    return suggestions
