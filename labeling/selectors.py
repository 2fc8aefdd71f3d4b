"""Reads of the labeling app: tasks with progress, per-item outcomes (consensus, agreement,
disagreement), Krippendorff's alpha, labeler accuracy (reviews and gold), review queues."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import krippendorff
import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from evalhub.services.errors import NotFound
from evalhub.stats.diagnostics import krippendorff_alpha_nominal
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Claim,
    LabelerExclusion,
    LabelingTask,
    QuestionKind,
    Review,
    ReviewKind,
    SpotCheckBatch,
    TaskItem,
    TaskStatus,
)
from labeling.services.access import audiences_for, can_spot_check
from labeling.services.values import value_key

REVIEW_QUEUE_LIMIT = 50


def task_get(pk: int) -> LabelingTask:
    if not 0 < pk < 2**62:
        raise NotFound("No such labeling task.")
    task = LabelingTask.objects.filter(pk=pk).select_related("parent", "created_by").first()
    if task is None:
        raise NotFound("No such labeling task.")
    return task


def tasks_list() -> QuerySet[LabelingTask]:
    return LabelingTask.objects.annotate(
        n_items=Count("items", filter=Q(items__is_gold=False), distinct=True),
        n_labels=Count(
            "items__annotations", filter=Q(items__annotations__is_ai=False), distinct=True
        ),
    ).order_by("-created_at", "-id")


def tasks_for_labeler(user: Any) -> list[LabelingTask]:
    """Open tasks of the user's audiences, each with ``mine`` (labels given), ``n_items`` and
    ``wanted`` (k x regular items) for a progress line."""
    tasks = list(
        LabelingTask.objects.filter(status=TaskStatus.OPEN, audience__in=audiences_for(user))
        .exclude(Exists(LabelerExclusion.objects.filter(task=OuterRef("pk"), labeler=user)))
        .annotate(
            n_items=Count("items", filter=Q(items__is_gold=False), distinct=True),
            mine=Count(
                "items__annotations", filter=Q(items__annotations__labeler=user), distinct=True
            ),
        )
        .order_by("-created_at", "-id")
    )
    for task in tasks:
        task.wanted = task.n_items * task.k
    return tasks


def _decisive_reviews(annotation_ids: list[int]) -> dict[int, Review]:
    """The review that sets each annotation's status: the latest spot-check, else the latest
    cross-review."""
    decisive: dict[int, Review] = {}
    for review in Review.objects.filter(annotation_id__in=annotation_ids).order_by("id"):
        current = decisive.get(review.annotation_id)
        if current is None or review.kind == ReviewKind.SPOT or current.kind == ReviewKind.CROSS:
            decisive[review.annotation_id] = review
    return decisive


def effective_value(annotation: Annotation, decisive: dict[int, Review]) -> dict[str, Any] | None:
    """What an annotation says after review: None when rejected; the correction when corrected."""
    if annotation.status == AnnotationStatus.REJECTED:
        return None
    review = decisive.get(annotation.pk)
    if annotation.status == AnnotationStatus.CORRECTED and review is not None:
        return review.corrected_value
    return annotation.value


@dataclass
class ItemOutcome:
    item: TaskItem
    n: int  # answers that count (not rejected, not AI unless accepted, labeler not excluded)
    complete: bool
    consensus: dict[str, Any] | None
    agreement: float | None
    disagreed: bool
    answers: list[dict[str, Any]]


def _consensus(task: LabelingTask, answers: list[dict[str, Any]]) -> tuple[Any, float | None]:
    if not answers or task.question_kind == QuestionKind.TEXT:
        return None, None
    if task.question_kind == QuestionKind.SCORE:
        scores = np.array([a["score"] for a in answers], dtype=float)
        median = float(np.median(scores))
        within = float(np.mean(np.abs(scores - median) <= 1.0))
        agreed = scores.max() - scores.min() <= 1
        return ({"score": math.floor(median + 0.5)} if agreed else None), within
    counts = Counter(value_key(a) for a in answers)
    (top_key, top), *rest = counts.most_common()
    share = top / len(answers)
    tied = bool(rest) and rest[0][1] == top
    if tied or share < task.min_agreement:
        return None, share
    return next(a for a in answers if value_key(a) == top_key), share


def task_item_outcomes(
    *, task: LabelingTask, item_ids: list[int] | None = None
) -> list[ItemOutcome]:
    """Consensus per regular item (or only ``item_ids``), from the answers that count."""
    items_qs = TaskItem.objects.filter(task=task, is_gold=False)
    scope = Annotation.objects.filter(item__task=task, item__is_gold=False)
    if item_ids is not None:
        items_qs, scope = items_qs.filter(pk__in=item_ids), scope.filter(item_id__in=item_ids)
    items = list(items_qs.order_by("position", "id"))
    excluded = set(LabelerExclusion.objects.filter(task=task).values_list("labeler_id", flat=True))
    annotations = [
        a
        for a in scope
        if (not a.is_ai and a.labeler_id not in excluded)
        or (a.is_ai and a.status in (AnnotationStatus.ACCEPTED, AnnotationStatus.CORRECTED))
    ]
    decisive = _decisive_reviews([a.pk for a in annotations])
    by_item: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for annotation in annotations:
        value = effective_value(annotation, decisive)
        if value is not None:
            by_item[annotation.item_id].append(value)
    outcomes = []
    for item in items:
        answers = by_item.get(item.pk, [])
        consensus, agreement = _consensus(task, answers)
        complete = len(answers) >= task.k
        consensus = consensus if complete else None  # no consensus before k answers count
        disagreed = complete and consensus is None and task.question_kind != QuestionKind.TEXT
        outcomes.append(
            ItemOutcome(item, len(answers), complete, consensus, agreement, disagreed, answers)
        )
    return outcomes


def task_alpha(*, task: LabelingTask, outcomes: list[ItemOutcome] | None = None) -> float | None:
    """Krippendorff's alpha over the task's items (nominal; ordinal for scores; None for text or
    when nothing can be paired)."""
    if task.question_kind == QuestionKind.TEXT:
        return None
    outcomes = outcomes if outcomes is not None else task_item_outcomes(task=task)
    if task.question_kind == QuestionKind.SCORE:
        width = max((o.n for o in outcomes), default=0)
        if width < 2:
            return None
        data = np.full((width, len(outcomes)), np.nan)
        for column, outcome in enumerate(outcomes):
            for row, answer in enumerate(outcome.answers):
                data[row, column] = answer["score"]
        try:
            alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))
        except ValueError:  # one value used throughout: no disagreement to expect
            return None
        return None if math.isnan(alpha) else alpha
    keys = sorted({value_key(a) for o in outcomes for a in o.answers})
    if len(keys) < 2:
        return None
    index = {key: i for i, key in enumerate(keys)}
    counts = np.zeros((len(outcomes), len(keys)))
    for row, outcome in enumerate(outcomes):
        for answer in outcome.answers:
            counts[row, index[value_key(answer)]] += 1
    alpha = krippendorff_alpha_nominal(value_counts=counts)
    return None if math.isnan(alpha) else alpha


@dataclass
class LabelerRow:
    labeler_id: int
    username: str
    n_labels: int
    reviewed: int
    accepted: int
    rejected: int
    accuracy: float | None  # accepted / reviewed
    gold_answers: int
    gold_correct: int
    gold_accuracy: float | None
    mean_seconds: float | None
    flagged: bool
    excluded: bool


def labeler_accuracy(*, task: LabelingTask | None = None) -> list[LabelerRow]:
    """Per labeler: labels, review outcomes (accuracy = accepted / reviewed; a correction counts
    as not accepted), gold accuracy, and the flag (gold accuracy below the task's threshold once
    they gave ``gold_min_answers`` gold answers)."""
    scope = Annotation.objects.filter(is_ai=False)
    if task is not None:
        scope = scope.filter(item__task=task)
    rows = (
        scope.values("labeler_id", "labeler__username")
        .annotate(
            n_labels=Count("id", filter=Q(is_gold_check=False)),
            reviewed=Count("id", filter=~Q(status=AnnotationStatus.PENDING)),
            accepted=Count("id", filter=Q(status=AnnotationStatus.ACCEPTED)),
            rejected=Count("id", filter=Q(status=AnnotationStatus.REJECTED)),
            gold_answers=Count("id", filter=Q(is_gold_check=True)),
            gold_correct=Count("id", filter=Q(is_gold_check=True, gold_correct=True)),
            mean_seconds=Avg("seconds"),
        )
        .order_by("labeler__username")
    )
    excluded: set[int] = set()
    min_answers, min_accuracy = 5, 0.8
    if task is not None:
        excluded = set(task.exclusions.values_list("labeler_id", flat=True))
        min_answers, min_accuracy = task.gold_min_answers, task.gold_min_accuracy
    out = []
    for row in rows:
        gold_accuracy = row["gold_correct"] / row["gold_answers"] if row["gold_answers"] else None
        flagged = (
            gold_accuracy is not None
            and row["gold_answers"] >= min_answers
            and gold_accuracy < min_accuracy
        )
        out.append(
            LabelerRow(
                labeler_id=row["labeler_id"],
                username=row["labeler__username"],
                n_labels=row["n_labels"],
                reviewed=row["reviewed"],
                accepted=row["accepted"],
                rejected=row["rejected"],
                accuracy=row["accepted"] / row["reviewed"] if row["reviewed"] else None,
                gold_answers=row["gold_answers"],
                gold_correct=row["gold_correct"],
                gold_accuracy=gold_accuracy,
                mean_seconds=row["mean_seconds"],
                flagged=flagged,
                excluded=row["labeler_id"] in excluded,
            )
        )
    return out


def task_progress(*, task: LabelingTask) -> dict[str, Any]:
    """Counts for the manager page: items, labels wanted and given, live claims, states."""
    regular = TaskItem.objects.filter(task=task, is_gold=False)
    n_items = regular.count()
    given = Annotation.objects.filter(item__task=task, item__is_gold=False, is_ai=False).count()
    return {
        "n_items": n_items,
        "n_gold": TaskItem.objects.filter(task=task, is_gold=True).count(),
        "wanted": n_items * task.k,
        "given": given,
        "ai_labels": Annotation.objects.filter(item__task=task, is_ai=True).count(),
        "live_claims": Claim.objects.filter(
            item__task=task, skipped=False, expires_at__gt=timezone.now()
        ).count(),
        "share": given / (n_items * task.k) if n_items else 0.0,
    }


def review_queue(*, reviewer: Any, task: LabelingTask | None = None) -> list[Annotation]:
    """Other people's pending human labels in tasks the reviewer may cross-review, oldest
    first, without those they already reviewed. Gold answers are scored by their key instead."""
    tasks = LabelingTask.objects.exclude(status=TaskStatus.DRAFT)
    if not can_spot_check(reviewer):  # experts review every task; others their audiences'
        tasks = tasks.filter(audience__in=audiences_for(reviewer))
    if task is not None:
        tasks = tasks.filter(pk=task.pk)
    return list(
        Annotation.objects.filter(
            item__task__in=tasks,
            is_ai=False,
            is_gold_check=False,
            status=AnnotationStatus.PENDING,
        )
        .exclude(labeler=reviewer)
        .exclude(reviews__reviewer=reviewer)
        .select_related(
            "item__task",
            "item__prompt",
            "item__output__prompt",
            "item__output_b",
            "item__pair__prompt",
        )
        .order_by("id")[:REVIEW_QUEUE_LIMIT]
    )


def spot_check_batch_get(pk: int) -> SpotCheckBatch:
    if not 0 < pk < 2**62:
        raise NotFound("No such spot-check batch.")
    batch = SpotCheckBatch.objects.filter(pk=pk).select_related("task").first()
    if batch is None:
        raise NotFound("No such spot-check batch.")
    return batch


def spot_check_entries(*, batch: SpotCheckBatch) -> list[dict[str, Any]]:
    """The batch's annotations in sample order, each with this batch's verdict (or None)."""
    entries = list(
        batch.entries.select_related(
            "annotation__labeler",
            "annotation__item__prompt",
            "annotation__item__output__prompt",
            "annotation__item__output_b",
            "annotation__item__pair__prompt",
        ).order_by("position")
    )
    verdicts = {r.annotation_id: r for r in Review.objects.filter(batch=batch)}
    return [
        {"entry": e, "annotation": e.annotation, "review": verdicts.get(e.annotation_id)}
        for e in entries
    ]


def spot_check_batches(*, task: LabelingTask | None = None) -> QuerySet[SpotCheckBatch]:
    batches = SpotCheckBatch.objects.annotate(
        n_sampled=Count("entries", distinct=True), n_done=Count("reviews", distinct=True)
    ).select_related("task")
    if task is not None:
        batches = batches.filter(task=task)
    return batches.order_by("-created_at", "-id")


def ai_suggestions(item_ids: list[int]) -> dict[int, list[Annotation]]:
    """AI pre-labels per item (shown to reviewers as suggestions, never to labelers)."""
    found: dict[int, list[Annotation]] = defaultdict(list)
    for annotation in Annotation.objects.filter(item_id__in=item_ids, is_ai=True).order_by("id"):
        found[annotation.item_id].append(annotation)
    return found


def ai_agreement(*, task: LabelingTask, outcomes: list[ItemOutcome]) -> dict[str, Any]:
    """How often AI pre-labels match the people's consensus (items with both)."""
    consensus = {o.item.pk: value_key(o.consensus) for o in outcomes if o.consensus is not None}
    pairs = [
        value_key(a.value) == consensus[a.item_id]
        for a in Annotation.objects.filter(item__task=task, is_ai=True, item_id__in=consensus)
    ]
    return {"compared": len(pairs), "matched": sum(pairs),
            "share": sum(pairs) / len(pairs) if pairs else None}  # fmt: skip


def users_by_id(ids: list[int]) -> dict[int, Any]:
    return {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)}
