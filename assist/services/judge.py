"""Judge runs: queue one, run it (both orders, robust parsing), measure, approve, publish pairs.

A run's labels stay out of everything until a manager approves it, and approval needs the
agreement with human votes measured on at least ``min_agreement_n`` comparisons
(``ASSIST_JUDGE_MIN_AGREEMENT_N``, default 30). The verdicts are never evalhub Votes: reports and
dashboards cannot count them. Approved pair verdicts become training pairs with source
``ai_judge``, which datasets take only when that source is named.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from assist.judging import (
    PAIR_FIELDS,
    PAIR_TEMPLATE,
    QUALITY_FIELDS,
    QUALITY_TEMPLATE,
    template_missing,
)
from assist.models import JudgeRun
from assist.selectors.judge import judge_run_agreement, judge_run_counts
from assist.services.backend import Log, Progress, batch_size, caller_for
from assist.services.judge_steps import (
    pair_work,
    quality_work,
    write_pairs,
    write_quality,
)
from assist.services.prelabel import prelabel_work, prelabel_write
from evalhub.generation.base import Backend
from evalhub.models import Campaign, Comparison, ModelVersion
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.jobs import JobCancelled, job_create

TASK_PATH = "assist.tasks.judge_run_task"


def min_agreement_default() -> int:
    """The floor of every run's gate (a run may ask for more, never for less)."""
    return int(getattr(settings, "ASSIST_JUDGE_MIN_AGREEMENT_N", 30))


def judge_run_create(
    *,
    campaign: Campaign,
    judge: ModelVersion,
    kind: str = JudgeRun.Kind.PAIRS,
    both_orders: bool = True,
    limit: int | None = None,
    template: str = "",
    min_agreement_n: int | None = None,
    quality_threshold: int = 3,
    created_by: AbstractBaseUser | None = None,
) -> JudgeRun:
    """Record a judge run and queue its job (``manage.py worker`` runs it)."""
    if kind not in JudgeRun.Kind.values:
        raise InvalidInput(
            f"kind must be one of {JudgeRun.Kind.values}.", details={"field": "kind"}
        )
    if judge.backend == ModelVersion.Backend.IMPORTED:
        raise InvalidInput(
            f"{judge.name!r} is an imported model and cannot judge; register one with a backend.",
            code="imported_model",
            details={"field": "judge"},
        )
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be >= 1.", details={"field": "limit"})
    floor = min_agreement_default()
    if min_agreement_n is not None and min_agreement_n < floor:
        raise InvalidInput(
            f"min_agreement_n can be raised, not lowered: at least {floor} human-voted "
            "comparisons (ASSIST_JUDGE_MIN_AGREEMENT_N).",
            details={"field": "min_agreement_n"},
        )
    if not 1 <= quality_threshold <= 5:
        raise InvalidInput("quality_threshold must be 1-5.", details={"field": "quality_threshold"})
    fields = PAIR_FIELDS if kind == JudgeRun.Kind.PAIRS else QUALITY_FIELDS
    template = template.strip() or (
        PAIR_TEMPLATE if kind == JudgeRun.Kind.PAIRS else QUALITY_TEMPLATE
    )
    missing = template_missing(template, fields)
    if missing:
        raise InvalidInput(
            "The template lacks the placeholder(s) " + ", ".join("{" + m + "}" for m in missing),
            details={"field": "template"},
        )
    if not Comparison.objects.filter(campaign=campaign).exists():
        raise InvalidInput(
            f"Campaign {campaign.name!r} has no comparisons to judge (open it first).",
            details={"field": "campaign"},
        )
    with transaction.atomic():
        run = JudgeRun.objects.create(
            kind=kind,
            judge=judge,
            campaign=campaign,
            template=template,
            both_orders=both_orders,
            limit=limit,
            min_agreement_n=min_agreement_n
            if min_agreement_n is not None
            else min_agreement_default(),
            quality_threshold=quality_threshold,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
        run.job = job_create(
            kind="judge",
            title=f"AI judge ({kind}) {judge.name} on {campaign.name}",
            task_path=TASK_PATH,
            campaign=campaign,
            created_by=created_by,
            params={"judge_run_id": run.pk},
        )
        run.save(update_fields=["job"])
        audit_record(action="judge_run.create", obj=run, after=audit_snapshot(run))
    return run


_KINDS: dict[str, tuple[Callable[[JudgeRun], tuple[list[Any], int]], Callable[..., None]]] = {
    JudgeRun.Kind.PAIRS: (pair_work, write_pairs),
    JudgeRun.Kind.QUALITY: (quality_work, write_quality),
    JudgeRun.Kind.PRELABEL: (prelabel_work, prelabel_write),
}


def _set_status(run: JudgeRun, status: str, **fields: Any) -> None:
    JudgeRun.objects.filter(pk=run.pk).update(status=status, **fields)
    run.status = status
    for name, value in fields.items():
        setattr(run, name, value)


def _cancelled(exc: BaseException) -> bool:
    return isinstance(exc, JobCancelled | KeyboardInterrupt)


def judge_run_execute(
    *,
    run: JudgeRun,
    progress: Progress | None = None,
    log: Log | None = None,
    backend: Backend | None = None,
) -> JudgeRun:
    """Ask the judge about every item not yet judged (resumable), then count and measure.

    ``backend`` replaces the judge's own (tests hand a fake); ``progress`` may raise to cancel:
    verdicts written so far stay and a rerun resumes after them.
    """
    run = JudgeRun.objects.select_related("judge", "campaign").get(pk=run.pk)
    report = progress or (lambda done, total, message: None)
    say = log or (lambda line: None)
    caller = caller_for(run.judge, backend)
    pairs = run.kind == JudgeRun.Kind.PAIRS
    work, write = _KINDS[run.kind]
    todo, total = work(run)
    done = total - len(todo)
    _set_status(run, JudgeRun.Status.RUNNING)
    say(f"{len(todo)} items to judge ({done} already judged) by {caller.model}")
    report(done, total, f"{len(todo)} to judge")
    started = time.perf_counter()
    try:
        batch = batch_size()
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            write(run, caller, chunk)
            done += len(chunk)
            report(done, total, f"{done} of {total} judged")
    except BaseException as exc:
        # What was judged stays; a retry of the job resumes after it.
        ended = JudgeRun.Status.CANCELLED if _cancelled(exc) else JudgeRun.Status.FAILED
        _set_status(run, ended, counts=judge_run_counts(run))
        raise
    counts = judge_run_counts(run)
    counts["seconds"] = round(time.perf_counter() - started, 3)
    fields: dict[str, Any] = {"counts": counts, "finished_at": timezone.now()}
    if pairs:
        fields["agreement"] = judge_run_agreement(run)
        fields["agreement_measured_at"] = timezone.now()
    _set_status(run, JudgeRun.Status.SUCCEEDED, **fields)
    say(f"done: {counts}")
    return run


def judge_run_measure(*, run: JudgeRun) -> JudgeRun:
    """Measure the agreement again (more human votes may have come in); audited."""
    if run.kind != JudgeRun.Kind.PAIRS:
        raise Conflict("Only pair runs are measured against human votes.")
    with transaction.atomic():
        run = JudgeRun.objects.select_for_update().get(pk=run.pk)
        before = {"agreement": run.agreement}
        run.agreement = judge_run_agreement(run)
        run.agreement_measured_at = timezone.now()
        run.save(update_fields=["agreement", "agreement_measured_at"])
        audit_record(
            action="judge_run.measure", obj=run, before=before, after={"agreement": run.agreement}
        )
    return run


def judge_run_approve(*, run: JudgeRun, user: AbstractBaseUser, note: str = "") -> JudgeRun:
    """A manager accepts the run's labels for use, having seen the agreement figures."""
    with transaction.atomic():
        run = JudgeRun.objects.select_for_update().get(pk=run.pk)
        if run.kind != JudgeRun.Kind.PAIRS:
            raise Conflict("Only pair runs are approved; quality flags are shown as AI flags.")
        if run.status != JudgeRun.Status.SUCCEEDED:
            raise Conflict(f"Judge run {run.pk} is {run.status}; approve a finished run.")
        if run.is_approved:
            raise Conflict(f"Judge run {run.pk} is already approved.", code="already_approved")
        measured = int((run.agreement or {}).get("n") or 0)
        if run.agreement_measured_at is None or measured < run.min_agreement_n:
            raise Conflict(
                f"The judge's agreement with people rests on {measured} human-voted comparisons; "
                f"at least {run.min_agreement_n} are needed before its labels can be used.",
                code="agreement_not_measured",
                details={"measured_on": measured, "required": run.min_agreement_n},
            )
        run.approved_by, run.approved_at = user, timezone.now()
        run.approval_note = note.strip()[:2000]
        run.save(update_fields=["approved_by", "approved_at", "approval_note"])
        audit_record(
            action="judge_run.approve",
            obj=run,
            before={"approved_at": None},
            after={
                "approved_at": run.approved_at,
                "approved_by": user.get_username(),
                "agreement": run.agreement,
            },
            note=run.approval_note,
            actor=user,
        )
    return run


def judge_pairs_publish(*, run: JudgeRun) -> dict[str, int]:
    """Turn an approved run's decisive verdicts into ``ai_judge`` training pairs."""
    from training.services.ai_pairs import AiPair, ai_judge_pairs_sync

    if not run.is_approved:
        raise Conflict(
            "This judge run is not approved: its labels cannot be used yet.", code="not_approved"
        )
    from assist.services.augment import ai_data_source

    source = ai_data_source(
        f"AI judge ({run.judge.name})", "Preference pairs labelled by an approved LLM judge."
    )
    verdicts = run.verdicts.filter(outcome__in=["candidate", "baseline"]).select_related(
        "comparison__baseline_output", "comparison__candidate_output"
    )
    pairs = []
    for verdict in verdicts:
        comparison = verdict.comparison
        cand, base = comparison.candidate_output, comparison.baseline_output
        chosen, rejected = (cand, base) if verdict.outcome == "candidate" else (base, cand)
        orders = 2 if run.both_orders else 1
        pairs.append(
            AiPair(
                prompt_id=comparison.prompt_id,
                campaign_id=comparison.campaign_id,
                chosen=chosen,
                rejected=rejected,
                source_key=f"judge-run:{run.pk}:comparison:{comparison.pk}",
                strength=orders,
                n_signals=orders,
                data_source_id=source.pk,
            )
        )
    with transaction.atomic():
        result = ai_judge_pairs_sync(scope_key=f"judge-run:{run.pk}:", pairs=pairs)
        audit_record(action="judge_run.publish_pairs", obj=run, after=result)
    return result
