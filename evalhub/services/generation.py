"""Generation for campaigns: the backend that serves a model version, and the missing outputs.

Backends (:func:`model_version_backend`):

- ``openai``: an :class:`OpenAICompatBackend` on the version's ``endpoint`` (vLLM), the request's
  ``model`` being its ``served_name`` (or its name). One client per endpoint and process, so a
  base and its LoRA adapters served by one vLLM share one concurrency limit
  (``EVALHUB_GENERATION_CONCURRENCY``) and timeout (``EVALHUB_GENERATION_TIMEOUT``).
- ``local``: a :class:`LocalBackend` on the base's folder, loaded once per process and cached by
  folder. A version whose ``path`` is a LoRA adapter folder (it holds ``adapter_config.json``)
  and whose parent is a local base is served by its base's backend with that adapter switched on.
- ``imported``: nothing can generate; its outputs must be imported.

Sampling parameters of a run (the campaign-level choice):

- ``sampling="shared"`` (default): the **baseline's** generation defaults (temperature, top_p,
  max_tokens, seed) for both sides, so both models answer under identical conditions and a
  difference in the votes is a difference between the models.
- ``sampling="own"``: each version its own defaults.
- ``params_override`` (any of temperature, top_p, max_tokens, seed) applies on top, to both sides.

What is sent is stored with each output (``Output.params``). With a seed, sample index ``k`` is
sent ``seed + k``: samples of one prompt differ and stay reproducible.

An output counts as present when the version has one for the prompt at that sample index,
whatever its parameters or origin: generation never regenerates what exists (it is resumable),
and ``sample_index`` is how to ask for more samples.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from evalhub.generation.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    build_messages,
)
from evalhub.models import Campaign, Job, ModelVersion, Output
from evalhub.models.prompts import params_hash
from evalhub.selectors.jobs import campaign_outputs_missing, job_active_for_campaign
from evalhub.services.campaigns import campaign_open, campaign_set_status
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.jobs import job_create

TASK_PATH = "evalhub.generation_tasks.generate_campaign_task"
SAMPLING_CHOICES = ("shared", "own")
OVERRIDABLE = ("temperature", "top_p", "max_tokens", "seed")
SIDES = ("baseline", "candidate")
CHUNK_REQUESTS = 512  # requests handed to a backend at once (bounds memory; the pool stays full)
FLUSH_ROWS = 50  # outputs written per insert, at most
FLUSH_SECONDS = 1.0  # ... or whatever arrived within this long
FAILURES_KEPT = 200  # per-prompt failures kept in a job's result and log

Progress = Callable[[int, int, str], None]
Log = Callable[[str], None]

_backends: dict[tuple[Any, ...], Any] = {}
_backends_lock = threading.Lock()


# -- backends --------------------------------------------------------------------------------


def _is_adapter_folder(path: str) -> bool:
    return bool(path) and (Path(path) / "adapter_config.json").is_file()


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    with _backends_lock:
        if key not in _backends:
            _backends[key] = make()
        return _backends[key]


def _openai_backend(model_version: ModelVersion) -> tuple[Backend, str]:
    from evalhub.generation.openai_compat import OpenAICompatBackend

    if not model_version.endpoint:
        raise InvalidInput(f"Model version {model_version.name!r} has no endpoint to call.")
    concurrency = int(settings.EVALHUB_GENERATION_CONCURRENCY)
    timeout = float(settings.EVALHUB_GENERATION_TIMEOUT)
    api_key = getattr(settings, "EVALHUB_GENERATION_API_KEY", "") or "EMPTY"
    key = ("openai", model_version.endpoint.rstrip("/"), concurrency, timeout, api_key)
    backend = _cached(
        key,
        lambda: OpenAICompatBackend(
            model_version.endpoint, api_key=api_key, max_concurrency=concurrency, timeout_s=timeout
        ),
    )
    return backend, model_version.served_name or model_version.name


def _local_base_backend(base: ModelVersion) -> Any:
    from evalhub.generation.local import LocalBackend

    folder = Path(base.path)
    if not folder.is_dir():
        raise InvalidInput(
            f"The weights of {base.name!r} are not on this machine: {folder} is not a folder."
        )
    key = ("local", str(folder.resolve()))
    return _cached(key, lambda: LocalBackend(folder, base_name=base.name))


def _local_backend(model_version: ModelVersion) -> tuple[Backend, str]:
    parent = model_version.parent
    if _is_adapter_folder(model_version.path):
        if parent is None or parent.backend != ModelVersion.Backend.LOCAL:
            raise InvalidInput(
                f"{model_version.name!r} is a LoRA adapter ({model_version.path}); set its parent "
                "to the local base model it was trained on."
            )
        backend = _local_base_backend(parent)
        if model_version.name not in backend.list_models():
            backend.add_adapter(model_version.name, model_version.path)
        return backend, model_version.name
    backend = _local_base_backend(model_version)
    return backend, backend.base_name


def model_version_backend(model_version: ModelVersion) -> tuple[Backend, str]:
    """The backend that serves ``model_version`` and the ``model`` name to ask it for.

    Backends are cached per process (see the module docstring); don't close them.
    """
    match model_version.backend:
        case ModelVersion.Backend.OPENAI:
            return _openai_backend(model_version)
        case ModelVersion.Backend.LOCAL:
            return _local_backend(model_version)
        case _:
            raise InvalidInput(
                f"{model_version.name!r} is an imported model: outputs of imported models must "
                "be imported (python manage.py import_outputs), not generated.",
                code="imported_model",
            )


def backends_close_all() -> None:
    """Close and forget every cached backend (tests; a worker shutting down)."""
    with _backends_lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        close = getattr(backend, "close", None)
        if close is not None:
            close()


# -- parameters ------------------------------------------------------------------------------


def generation_params(
    *,
    campaign: Campaign,
    sampling: str = "shared",
    params_override: dict[str, Any] | None = None,
    sample_index: int = 0,
) -> dict[str, dict[str, Any]]:
    """side -> the sampling parameters sent (and stored with each output) for this run."""
    if sampling not in SAMPLING_CHOICES:
        raise InvalidInput(f"sampling must be one of {SAMPLING_CHOICES}, got {sampling!r}.")
    if sample_index < 0:
        raise InvalidInput("sample_index must be >= 0.")
    override = dict(params_override or {})
    unknown = sorted(set(override) - set(OVERRIDABLE))
    if unknown:
        raise InvalidInput(f"Unknown sampling parameters {unknown}; use {list(OVERRIDABLE)}.")
    shared = campaign.baseline.generation_defaults
    result = {}
    for side in SIDES:
        params = dict(
            shared if sampling == "shared" else getattr(campaign, side).generation_defaults
        )
        params.update({k: v for k, v in override.items() if v is not None})
        if params["seed"] is not None:
            params["seed"] = int(params["seed"]) + sample_index
        try:
            _sampling(params)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"Invalid sampling parameters: {exc}") from exc
        result[side] = params
    return result


def _sampling(params: dict[str, Any]) -> SamplingParams:
    return SamplingParams(
        temperature=float(params["temperature"]),
        top_p=float(params["top_p"]),
        max_tokens=int(params["max_tokens"]),
        seed=None if params["seed"] is None else int(params["seed"]),
    )


def _refuse_imported(campaign: Campaign, missing: Iterable[tuple[dict[str, Any], str]]) -> None:
    sides = {side for _, side in missing}
    for side in SIDES:
        version = getattr(campaign, side)
        if side in sides and version.backend == ModelVersion.Backend.IMPORTED:
            count = sum(1 for _, s in missing if s == side)
            raise InvalidInput(
                f"The {side} {version.name!r} is an imported model and {count} prompt(s) lack its "
                "outputs: outputs of imported models must be imported "
                "(python manage.py import_outputs), not generated.",
                code="imported_model",
            )


# -- enqueue ---------------------------------------------------------------------------------


def campaign_generate_enqueue(
    *,
    campaign: Campaign,
    created_by: AbstractBaseUser | None = None,
    sample_index: int = 0,
    sampling: str = "shared",
    params_override: dict[str, Any] | None = None,
) -> Job:
    """Queue a background job that generates the campaign's missing outputs (one at a time)."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update()
            .select_related("baseline", "candidate")
            .get(pk=campaign.pk)
        )
        if campaign.status == Campaign.Status.CLOSED:
            raise Conflict(f"Campaign {campaign.name!r} is closed; reopen it to generate.")
        generation_params(
            campaign=campaign,
            sampling=sampling,
            params_override=params_override,
            sample_index=sample_index,
        )
        active = job_active_for_campaign(campaign=campaign, kind="generate")
        if active is not None:
            raise Conflict(
                f"Generation job {active.pk} for this campaign is already {active.state}.",
                code="job_active",
                details={"job_id": active.pk},
            )
        _refuse_imported(campaign, campaign_outputs_missing(campaign=campaign, sample_index=0))
        return job_create(
            kind="generate",
            title=f"Generate outputs for {campaign.name}",
            task_path=TASK_PATH,
            campaign=campaign,
            created_by=created_by,
            params={
                "campaign_id": campaign.pk,
                "sample_index": sample_index,
                "sampling": sampling,
                "params_override": dict(params_override or {}),
            },
        )


# -- the run ---------------------------------------------------------------------------------


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


class _OutputSink:
    """Receives results as they arrive; writes them in small idempotent batches."""

    def __init__(
        self, run: _Run, items: dict[str, tuple[dict[str, Any], str]], progress: Progress
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
class _Run:
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
                    request_id, messages, model, _sampling(self.params[side])
                )
            except ValueError as exc:
                self.fail(prompt, side, f"invalid prompt: {exc}")
                continue
            items[request_id] = (prompt, side)
            groups.setdefault(id(backend), (backend, []))[1].append(request)
        sink = _OutputSink(self, items, progress)
        for backend, requests in groups.values():
            for start in range(0, len(requests), CHUNK_REQUESTS):
                backend.generate(requests[start : start + CHUNK_REQUESTS], on_result=sink.add)
                sink.flush()


def _check_served(campaign: Campaign, sides: set[str]) -> None:
    """Fail early, with the served names, when an endpoint does not serve a version."""
    for side in sorted(sides):
        backend, model = model_version_backend(getattr(campaign, side))
        check = getattr(backend, "check_served", None)
        if check is not None:
            check(model)


def campaign_generate(
    *,
    campaign: Campaign,
    progress: Progress | None = None,
    log: Log | None = None,
    sample_index: int = 0,
    params_override: dict[str, Any] | None = None,
    sampling: str = "shared",
    retry_passes: int = 1,
) -> GenerationSummary:
    """Generate the campaign's missing outputs for both sides; open it once they are complete.

    The campaign is "generating" while this runs, and back to draft if it stops incomplete
    (failures, a cancel, an error). Requests that fail are retried in ``retry_passes`` more
    passes; what still fails is in the summary. ``progress(done, total, message)`` may raise
    (a cancel): outputs received so far are written first, so a rerun resumes from there.
    """
    started = time.perf_counter()
    campaign = Campaign.objects.select_related("baseline", "candidate").get(pk=campaign.pk)
    if campaign.status == Campaign.Status.CLOSED:
        raise Conflict(f"Campaign {campaign.name!r} is closed; reopen it to generate.")
    params = generation_params(
        campaign=campaign,
        sampling=sampling,
        params_override=params_override,
        sample_index=sample_index,
    )
    work = campaign_outputs_missing(campaign=campaign, sample_index=sample_index)
    total = 2 * campaign.prompts.count()
    run = _Run(campaign, sample_index, params, total, total - len(work), log or (lambda _: None))
    report = progress or (lambda done, total, message: None)
    report(run.present_before, total, f"{len(work)} outputs to generate")
    _refuse_imported(campaign, work)
    if work and campaign.status == Campaign.Status.DRAFT:
        campaign_set_status(campaign=campaign, status=Campaign.Status.GENERATING)
    try:
        if work:
            _check_served(campaign, {side for _, side in work})
            run.log(f"generating {len(work)} outputs ({run.present_before} already present)")
            run.generate(work, report)
        first_pass_failures, passes = len(run.failures), 0
        while run.failures and passes < retry_passes:
            passes += 1
            retry = campaign_outputs_missing(campaign=campaign, sample_index=sample_index)
            run.log(f"retry pass {passes}: {len(retry)} outputs still missing")
            run.failures = []
            run.generate(retry, report)
    except BaseException:
        _back_to_draft(campaign)
        raise
    summary = GenerationSummary(
        campaign_id=campaign.pk,
        sample_index=sample_index,
        total=total,
        present_before=run.present_before,
        generated=run.generated,
        missing=len(campaign_outputs_missing(campaign=campaign, sample_index=sample_index)),
        failures=run.failures,
        first_pass_failures=first_pass_failures,
        retry_passes=passes,
        params=params,
    )
    if summary.complete:
        opened = campaign_open(campaign=campaign)
        summary.opened, summary.comparisons = True, opened.comparisons_total
        run.log(f"complete: campaign open with {opened.comparisons_total} comparisons")
    else:
        _back_to_draft(campaign)
        run.log(summary.failure_message())
    summary.seconds = round(time.perf_counter() - started, 3)
    report(
        total - summary.missing, total, f"{summary.generated} generated, {summary.missing} missing"
    )
    return summary


def _back_to_draft(campaign: Campaign) -> None:
    current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if current == Campaign.Status.GENERATING:
        campaign_set_status(campaign=campaign, status=Campaign.Status.DRAFT)
