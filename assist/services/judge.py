"""Judge runs: queue one, run it (both orders, robust parsing), measure, approve, publish pairs.

A run's labels stay out of everything until a manager approves it, and approval needs the
agreement with human votes measured on at least ``min_agreement_n`` comparisons
(``ASSIST_JUDGE_MIN_AGREEMENT_N``, default 30). The verdicts are never evalhub Votes: reports and
dashboards cannot count them. Approved pair verdicts become training pairs with source
``ai_judge``, which datasets take only when that source is named.
"""

from __future__ import annotations

import hashlib
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
    combine_orders,
    parse_score,
    parse_verdict,
    render,
    slot_to_side,
    template_missing,
)
from assist.models import JudgeRun, JudgeVerdict
from assist.selectors.judge import judge_run_agreement, judge_run_counts
from assist.services.backend import Caller, Log, Progress, batch_size, caller_for, first_text
from assist.services.prelabel import prelabel_work, prelabel_write
from evalhub.generation.base import Backend, SamplingParams
from evalhub.models import Campaign, Comparison, ModelVersion, Output
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.jobs import JobCancelled, job_create

TASK_PATH = "assist.tasks.judge_run_task"
VERDICT_MAX_TOKENS = 64


def min_agreement_default() -> int:
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


def _slot_of_candidate(run: JudgeRun, comparison_id: int) -> str:
    """The candidate's slot in the first order: a stable coin per (run, comparison)."""
    digest = hashlib.sha256(f"{run.pk}:{comparison_id}".encode()).digest()
    return "A" if digest[0] % 2 == 0 else "B"


def _prompt_text(prompt: Any) -> str:
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt.as_messages())


def judge_params(judge: ModelVersion) -> SamplingParams:
    seed = judge.generation_defaults.get("seed")
    return SamplingParams(temperature=0.0, max_tokens=VERDICT_MAX_TOKENS, seed=seed)


def _pair_batch(run: JudgeRun, caller: Caller, comparisons: list[Comparison]) -> list[JudgeVerdict]:
    asks, plan = [], {}
    for comparison in comparisons:
        slot = _slot_of_candidate(run, comparison.pk)
        cand, base = comparison.candidate_output.text, comparison.baseline_output.text
        first = (cand, base) if slot == "A" else (base, cand)
        orders = [("ab", first)] + ([("ba", first[::-1])] if run.both_orders else [])
        prompt = _prompt_text(comparison.prompt)
        for order, (a, b) in orders:
            text = render(
                run.template, PAIR_FIELDS, {"prompt": prompt, "answer_a": a, "answer_b": b}
            )
            asks.append((f"c{comparison.pk}:{order}", text))
        plan[comparison.pk] = slot
    results = caller.ask(asks, judge_params(run.judge))
    verdicts = []
    for comparison in comparisons:
        slot = plan[comparison.pk]
        ab, ba = results.get(f"c{comparison.pk}:ab"), results.get(f"c{comparison.pk}:ba")
        raw_ab, raw_ba = first_text(ab), first_text(ba)
        verdict_ab = parse_verdict(raw_ab)
        verdict_ba = parse_verdict(raw_ba) if run.both_orders else ""
        other = "B" if slot == "A" else "A"
        first = slot_to_side(verdict_ab, slot)
        second = slot_to_side(verdict_ba, other) if run.both_orders else None
        errors = [r.error for r in (ab, ba) if r is not None and r.error]
        verdicts.append(
            JudgeVerdict(
                run=run,
                comparison=comparison,
                candidate_slot=slot,
                verdict_ab=verdict_ab,
                verdict_ba=verdict_ba,
                outcome=combine_orders(first, second),
                raw_ab=raw_ab[:5000],
                raw_ba=raw_ba[:5000],
                latency_ms_ab=ab.latency_ms if ab is not None else None,
                latency_ms_ba=ba.latency_ms if ba is not None and run.both_orders else None,
                error="; ".join(errors)[:2000],
            )
        )
    return verdicts


def _quality_batch(run: JudgeRun, caller: Caller, outputs: list[Output]) -> list[JudgeVerdict]:
    asks = [
        (
            f"o{output.pk}",
            render(
                run.template,
                QUALITY_FIELDS,
                {"prompt": _prompt_text(output.prompt), "answer": output.text},
            ),
        )
        for output in outputs
    ]
    results = caller.ask(asks, judge_params(run.judge))
    verdicts = []
    for output in outputs:
        result = results.get(f"o{output.pk}")
        raw = first_text(result)
        verdicts.append(
            JudgeVerdict(
                run=run,
                output=output,
                score=parse_score(raw),
                raw_ab=raw[:5000],
                latency_ms_ab=result.latency_ms if result is not None else None,
                error=(result.error or "")[:2000] if result is not None else "no answer",
            )
        )
    return verdicts


def _pair_work(run: JudgeRun) -> tuple[list[Comparison], int]:
    comparisons = Comparison.objects.filter(campaign=run.campaign).order_by("id")
    if run.limit:
        comparisons = comparisons[: run.limit]
    ids = list(comparisons.values_list("pk", flat=True))
    done = set(run.verdicts.filter(comparison_id__in=ids).values_list("comparison_id", flat=True))
    todo = list(
        Comparison.objects.filter(pk__in=[i for i in ids if i not in done])
        .select_related("prompt", "baseline_output", "candidate_output")
        .order_by("id")
    )
    return todo, len(ids)


def _quality_work(run: JudgeRun) -> tuple[list[Output], int]:
    pairs = Comparison.objects.filter(campaign=run.campaign).order_by("id")
    ids: list[int] = []
    for base, cand in pairs.values_list("baseline_output_id", "candidate_output_id"):
        ids += [i for i in (base, cand) if i not in ids]
    if run.limit:
        ids = ids[: run.limit]
    done = set(run.verdicts.filter(output_id__in=ids).values_list("output_id", flat=True))
    todo = list(
        Output.objects.filter(pk__in=[i for i in ids if i not in done])
        .select_related("prompt")
        .order_by("id")
    )
    return todo, len(ids)


def _write_pairs(run: JudgeRun, caller: Caller, chunk: list[Any]) -> None:
    JudgeVerdict.objects.bulk_create(_pair_batch(run, caller, chunk))


def _write_quality(run: JudgeRun, caller: Caller, chunk: list[Any]) -> None:
    JudgeVerdict.objects.bulk_create(_quality_batch(run, caller, chunk))


_KINDS: dict[str, tuple[Callable[[JudgeRun], tuple[list[Any], int]], Callable[..., None]]] = {
    JudgeRun.Kind.PAIRS: (_pair_work, _write_pairs),
    JudgeRun.Kind.QUALITY: (_quality_work, _write_quality),
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
