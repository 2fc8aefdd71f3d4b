"""One generation run: requests to the backends, results written as they arrive."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from evalhub.generation.base import (
    Backend,
    GenerationError,
    GenerationRequest,
    GenerationResult,
    build_messages,
)
from evalhub.models import Campaign, Output
from evalhub.models.prompts import params_hash
from evalhub.services.generation.backends import model_version_backend
from evalhub.services.generation.params import sampling_params

CHUNK_REQUESTS = 512  # requests handed to a backend at once (bounds memory; the pool stays full)
FLUSH_ROWS = 50  # outputs written per insert, at most
FLUSH_SECONDS = 1.0  # ... or whatever arrived within this long
FAILURES_KEPT = 200  # per-prompt failures kept in a job's result and log

Progress = Callable[[int, int, str], None]
Log = Callable[[str], None]


@dataclass(frozen=True)
class GenerationFailure:
    prompt_id: int
    external_id: str | None
    side: str
    error: str


@dataclass
class GenerationSummary:
    """How a run ended. ``missing`` is counted in the database at the end (the truth);
    ``failures`` are the requests that still failed in the last pass."""

    campaign_id: int
    sample_index: int
    total: int
    present_before: int
    generated: int = 0
    missing: int = 0
    failures: list[GenerationFailure] = field(default_factory=list)
    first_pass_failures: int = 0
    retry_passes: int = 0
    opened: bool = False
    comparisons: int = 0
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = data["failures"][:FAILURES_KEPT]
        data["failed"] = len(self.failures)
        data["complete"] = self.complete
        return data

    def failure_message(self) -> str:
        message = f"{self.missing} of {self.total} outputs still missing"
        if self.failures:
            first = self.failures[0]
            message += (
                f"; {len(self.failures)} request(s) failed after {self.retry_passes} retry "
                f"pass(es), first: prompt {first.external_id or first.prompt_id} "
                f"({first.side}): {first.error}"
            )
        return message + ". Retry the job: it generates only what is missing."


class OutputSink:
    """Receives results as they arrive; writes them in small idempotent batches."""

    def __init__(
        self, run: GenerationRun, items: dict[str, tuple[dict[str, Any], str]], progress: Progress
    ) -> None:
        self.run, self.items, self.progress = run, items, progress
        self.buffer: list[Output] = []
        self.last_flush = time.monotonic()

    def add(self, result: GenerationResult) -> None:
        prompt, side = self.items[result.request_id]
        if result.ok and result.completions:
            completion = result.completions[0]
            params = self.run.params[side]
            self.buffer.append(
                Output(
                    prompt_id=prompt["id"],
                    model_version_id=self.run.version_ids[side],
                    text=completion.text,
                    sample_index=self.run.sample_index,
                    params=params,
                    params_hash=params_hash(params),
                    latency_ms=result.latency_ms,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason[:32],
                    origin=Output.Origin.GENERATED,
                )
            )
        else:
            self.run.fail(prompt, side, result.error or "no completion returned")
        if len(self.buffer) >= FLUSH_ROWS or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            # ignore_conflicts: a row a killed run (or a concurrent one) already wrote is kept.
            Output.objects.bulk_create(self.buffer, ignore_conflicts=True)
            self.run.generated += len(self.buffer)
            self.buffer = []
        self.last_flush = time.monotonic()
        self.progress(*self.run.counts())


@dataclass
class GenerationRun:
    campaign: Campaign
    sample_index: int
    params: dict[str, dict[str, Any]]
    total: int
    present_before: int
    log: Log
    generated: int = 0
    failures: list[GenerationFailure] = field(default_factory=list)

    @property
    def version_ids(self) -> dict[str, int]:
        return {"baseline": self.campaign.baseline_id, "candidate": self.campaign.candidate_id}

    def counts(self) -> tuple[int, int, str]:
        done = min(self.total, self.present_before + self.generated)
        message = f"{self.generated} generated, {len(self.failures)} failed"
        return done, self.total, message

    def fail(self, prompt: dict[str, Any], side: str, error: str) -> None:
        failure = GenerationFailure(prompt["id"], prompt["external_id"], side, error[:500])
        self.failures.append(failure)
        if len(self.failures) <= FAILURES_KEPT:
            self.log(f"failed: prompt {failure.external_id or failure.prompt_id} {side}: {error}")

    def generate(self, work: list[tuple[dict[str, Any], str]], progress: Progress) -> None:
        """One pass over ``work``: requests grouped by backend, results written as they come."""
        groups: dict[int, tuple[Backend, list[GenerationRequest]]] = {}
        items: dict[str, tuple[dict[str, Any], str]] = {}
        served = {
            side: model_version_backend(getattr(self.campaign, side))
            for side in {side for _, side in work}
        }
        for prompt, side in work:
            backend, model = served[side]
            request_id = f"{prompt['id']}:{side}:{self.sample_index}"
            try:
                messages = build_messages(
                    prompt["system"],
                    prompt["history"] or (),
                    prompt["instruction"],
                    prompt["input"],
                )
                request = GenerationRequest(
                    request_id, messages, model, sampling_params(self.params[side])
                )
            except ValueError as exc:
                self.fail(prompt, side, f"invalid prompt: {exc}")
                continue
            items[request_id] = (prompt, side)
            groups.setdefault(id(backend), (backend, []))[1].append(request)
        sink = OutputSink(self, items, progress)
        for backend, requests in groups.values():
            for start in range(0, len(requests), CHUNK_REQUESTS):
                backend.generate(requests[start : start + CHUNK_REQUESTS], on_result=sink.add)
                sink.flush()


def check_served(campaign: Campaign, sides: set[str]) -> None:
    """Fail early, with the served names, when an endpoint does not serve a version.

    An endpoint that cannot even list its models (down, refusing connections) fails here too,
    with an error that names the model the campaign needs (not the listing call).
    """
    for side in sorted(sides):
        version = getattr(campaign, side)
        backend, model = model_version_backend(version)
        check = getattr(backend, "check_served", None)
        if check is None:
            continue
        try:
            check(model)
        except GenerationError as error:
            if error.model == model:
                raise
            named = model if model == version.name else f"{model} (version {version.name})"
            raise GenerationError(
                f"could not check that the model is served: {error.reason}",
                endpoint=error.endpoint,
                model=named,
                status=error.status,
                retryable=error.retryable,
                attempts=error.attempts,
            ) from error
