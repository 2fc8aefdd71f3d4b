"""AI pre-labels for labeling tasks: the judge answers each item in the task's own answer shape,
stored through ``labeling.services.annotations.annotation_create_ai`` (``is_ai=True``: shown to
reviewers as a suggestion, never counted toward k or consensus).

Only a judge whose agreement with people was measured and approved may pre-label: a pre-label
run names the approved pairs run of the same judge (``authorised_by``). Supported questions:
preference (two answers; both orders, an order-dependent verdict becomes "tie" with confidence
0.5), score (one answer, the 1-5 rubric) and labels (one label from the task's list). Items the
judge cannot answer (text questions, a prompt without answers for a score) are left alone and
counted as unsupported.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from assist.judging import (
    LABELS_TEMPLATE,
    PAIR_FIELDS,
    PAIR_TEMPLATE,
    QUALITY_FIELDS,
    QUALITY_TEMPLATE,
    combine_orders,
    parse_label,
    parse_score,
    parse_verdict,
    render,
    slot_to_side,
)
from assist.models import JudgeRun, JudgeVerdict
from assist.services.backend import Caller, first_text
from assist.services.judge_steps import judge_params, prompt_text
from evalhub.models import Label
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput, ServiceError
from evalhub.services.jobs import job_create
from labeling.models import LabelingTask, QuestionKind, TaskItem
from labeling.services.annotations import annotation_create_ai
from labeling.services.values import task_allowed_label_ids

TEMPLATES = {
    QuestionKind.PREFERENCE: PAIR_TEMPLATE,
    QuestionKind.SCORE: QUALITY_TEMPLATE,
    QuestionKind.LABELS: LABELS_TEMPLATE,
}
SIDE_TO_VALUE = {"candidate": "a", "baseline": "b", "tie": "tie", "inconsistent": "tie"}


def prelabel_run_create(
    *,
    task: LabelingTask,
    approved_run: JudgeRun,
    both_orders: bool = True,
    limit: int | None = None,
    created_by: AbstractBaseUser | None = None,
) -> JudgeRun:
    """Queue a run that pre-labels ``task``'s items with ``approved_run``'s judge."""
    from assist.services.judge import TASK_PATH

    if approved_run.kind != JudgeRun.Kind.PAIRS or not approved_run.is_approved:
        raise Conflict(
            "Pre-labels need a judge whose agreement with people was measured and approved: "
            "name an approved pairs run of that judge.",
            code="not_approved",
        )
    if task.question_kind not in TEMPLATES:
        raise InvalidInput(
            f"The judge cannot answer {task.question_kind} questions; it pre-labels "
            "preference, score and labels tasks.",
            details={"field": "task"},
        )
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be >= 1.", details={"field": "limit"})
    with transaction.atomic():
        run = JudgeRun.objects.create(
            kind=JudgeRun.Kind.PRELABEL,
            judge=approved_run.judge,
            labeling_task=task,
            authorised_by=approved_run,
            template=TEMPLATES[task.question_kind],
            both_orders=both_orders,
            limit=limit,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
        run.job = job_create(
            kind="judge",
            title=f"AI pre-labels by {approved_run.judge.name} for task {task.name}",
            task_path=TASK_PATH,
            created_by=created_by,
            params={"judge_run_id": run.pk},
        )
        run.save(update_fields=["job"])
        audit_record(action="judge_run.create", obj=run, after=audit_snapshot(run))
    return run


def prelabel_work(run: JudgeRun) -> tuple[list[TaskItem], int]:
    items = TaskItem.objects.filter(task_id=run.labeling_task_id, is_gold=False).order_by(
        "position", "id"
    )
    if run.limit:
        items = items[: run.limit]
    ids = list(items.values_list("pk", flat=True))
    done = set(run.verdicts.filter(task_item_id__in=ids).values_list("task_item_id", flat=True))
    todo = list(
        TaskItem.objects.filter(pk__in=[i for i in ids if i not in done])
        .select_related("task", "prompt", "output__prompt", "output_b", "pair__prompt")
        .order_by("position", "id")
    )
    return todo, len(ids)


def _prompt_of(item: TaskItem) -> Any:
    if item.prompt_id:
        return item.prompt
    return item.pair.prompt if item.pair_id else item.output.prompt


def _answers(item: TaskItem) -> tuple[str, ...]:
    if item.pair_id:
        return (item.pair.chosen_text, item.pair.rejected_text)
    if item.output_id:
        return (item.output.text, item.output_b.text) if item.output_b_id else (item.output.text,)
    return ()


def _asks(run: JudgeRun, item: TaskItem, label_names: list[str]) -> list[tuple[str, str]]:
    prompt, answers = prompt_text(_prompt_of(item)), _answers(item)
    kind = item.task.question_kind
    if kind == QuestionKind.PREFERENCE and len(answers) == 2:
        a, b = answers
        orders = [("ab", (a, b))] + ([("ba", (b, a))] if run.both_orders else [])
        return [
            (f"i{item.pk}:{order}", render(run.template, PAIR_FIELDS,
                                           {"prompt": prompt, "answer_a": x, "answer_b": y}))
            for order, (x, y) in orders
        ]  # fmt: skip
    if kind == QuestionKind.SCORE and len(answers) == 1:
        values = {"prompt": prompt, "answer": answers[0]}
        return [(f"i{item.pk}:ab", render(run.template, QUALITY_FIELDS, values))]
    if kind == QuestionKind.LABELS:
        shown = prompt + "".join(f"\n\nanswer: {text}" for text in answers)
        labels = "\n".join(f"- {name}" for name in label_names)
        text = render(run.template, ("labels", "item"), {"labels": labels, "item": shown})
        return [(f"i{item.pk}:ab", text)]
    return []


def _verdict(
    run: JudgeRun, item: TaskItem, results: dict[str, Any], labels: dict[str, int]
) -> JudgeVerdict:
    ab, ba = results.get(f"i{item.pk}:ab"), results.get(f"i{item.pk}:ba")
    verdict = JudgeVerdict(run=run, task_item=item, raw_ab=first_text(ab)[:5000],
                           raw_ba=first_text(ba)[:5000],
                           latency_ms_ab=ab.latency_ms if ab else None,
                           latency_ms_ba=ba.latency_ms if ba else None)  # fmt: skip
    verdict.error = "; ".join(r.error for r in (ab, ba) if r is not None and r.error)[:2000]
    kind = item.task.question_kind
    if ab is None:
        verdict.outcome, verdict.error = JudgeVerdict.Outcome.INVALID, "unsupported item"
    elif kind == QuestionKind.PREFERENCE:
        verdict.candidate_slot = "A"  # answer a sits in slot A of the first order
        verdict.verdict_ab = parse_verdict(verdict.raw_ab)
        verdict.verdict_ba = parse_verdict(verdict.raw_ba) if run.both_orders else ""
        second = slot_to_side(verdict.verdict_ba, "B") if run.both_orders else None
        verdict.outcome = combine_orders(slot_to_side(verdict.verdict_ab, "A"), second)
        if verdict.outcome in SIDE_TO_VALUE:
            verdict.value = {"preference": SIDE_TO_VALUE[verdict.outcome]}
    elif kind == QuestionKind.SCORE:
        verdict.score = parse_score(verdict.raw_ab)
        verdict.value = {"score": verdict.score} if verdict.score else None
    else:
        name = parse_label(verdict.raw_ab, list(labels))
        verdict.value = {"labels": [labels[name]]} if name else None
    if verdict.value is None and not verdict.outcome:
        verdict.outcome = JudgeVerdict.Outcome.INVALID
    return verdict


def prelabel_write(run: JudgeRun, caller: Caller, items: list[TaskItem]) -> None:
    """Ask about ``items``, store verdicts and AI annotations together (one transaction)."""
    task = run.labeling_task
    labels = {
        label.name: label.pk
        for label in Label.objects.filter(pk__in=task_allowed_label_ids(task)).order_by("name")
    }
    asks = [ask for item in items for ask in _asks(run, item, list(labels))]
    results = caller.ask(asks, judge_params(run.judge)) if asks else {}
    verdicts = [_verdict(run, item, results, labels) for item in items]
    with transaction.atomic():
        for verdict in verdicts:
            if verdict.value is None:
                continue
            confidence = 0.5 if verdict.outcome == JudgeVerdict.Outcome.INCONSISTENT else None
            if verdict.outcome in ("candidate", "baseline", "tie") and run.both_orders:
                confidence = 1.0
            try:
                annotation_create_ai(
                    item=verdict.task_item, ai_model=run.judge, value=verdict.value,
                    rationale=verdict.raw_ab[:2000], confidence=confidence,
                    meta={"judge_run": run.pk, "authorised_by_run": run.authorised_by_id,
                          "outcome": verdict.outcome},
                    requested_by=run.created_by,
                )  # fmt: skip
            except ServiceError as exc:
                verdict.value, verdict.error = None, str(exc)[:2000]
                verdict.outcome = JudgeVerdict.Outcome.INVALID
        JudgeVerdict.objects.bulk_create(verdicts)
