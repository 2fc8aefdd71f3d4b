"""Reviews of annotations: cross-review by peers, expert spot-checks of a uniform sample."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evalhub.services.audit import audit_record
from evalhub.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from labeling.models import (
    Annotation,
    AnnotationStatus,
    LabelingTask,
    Review,
    ReviewKind,
    SpotCheckBatch,
    SpotCheckEntry,
    TaskItem,
    TaskStatus,
    Verdict,
)
from labeling.services.access import can_cross_review, can_spot_check
from labeling.services.values import value_validate

STATUS_FOR_VERDICT = {
    Verdict.ACCEPT: AnnotationStatus.ACCEPTED,
    Verdict.CORRECT: AnnotationStatus.CORRECTED,
    Verdict.REJECT: AnnotationStatus.REJECTED,
}


def spot_check_sample(*, population: int, rate: float, seed: int) -> list[int]:
    """Positions (0..population-1) of a uniform sample without replacement of
    ``max(1, round(rate * population))`` elements; the same seed gives the same sample."""
    if population <= 0:
        return []
    if not 0 < rate <= 1:
        raise InvalidInput("rate must lie in (0, 1].")
    size = min(population, max(1, round(rate * population)))
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(population, size=size, replace=False)]


def spot_check_batch_create(
    *,
    task: LabelingTask,
    created_by: AbstractBaseUser | None = None,
    rate: float | None = None,
    seed: int | None = None,
) -> SpotCheckBatch:
    """Sample the task's human labels (gold answers left out: their key scores them) at
    ``rate`` (default the task's ``spot_check_rate``) with ``seed`` (default: task seed + the
    number of earlier batches, so each batch differs and each can be reproduced)."""
    if task.status == TaskStatus.DRAFT:
        raise Conflict("A draft task has no labels to spot-check.", code="task_draft")
    rate = task.spot_check_rate if rate is None else rate
    if seed is None:
        seed = task.seed + task.spot_checks.count()
    if not 0 <= seed < 2**63:
        raise InvalidInput("seed must lie in [0, 2**63).")
    population = list(
        Annotation.objects.filter(item__task=task, is_ai=False, is_gold_check=False)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not population:
        raise Conflict("This task has no labels yet.", code="nothing_to_sample")
    positions = spot_check_sample(population=len(population), rate=rate, seed=seed)
    with transaction.atomic():
        batch = SpotCheckBatch.objects.create(
            task=task, rate=rate, seed=seed, population=len(population), created_by=created_by
        )
        SpotCheckEntry.objects.bulk_create(
            SpotCheckEntry(batch=batch, annotation_id=population[p], position=i)
            for i, p in enumerate(positions)
        )
        audit_record(
            action="spotcheck.create",
            obj=batch,
            after={"rate": rate, "seed": seed, "sampled": len(positions)},
        )
    return batch


def review_record(
    *,
    annotation: Annotation,
    reviewer: AbstractBaseUser,
    kind: str,
    verdict: str,
    corrected_value: dict[str, Any] | None = None,
    comment: str = "",
    batch: SpotCheckBatch | None = None,
) -> Review:
    """Record a verdict and move the annotation's status (a spot-check outranks a cross-review).

    A rejected annotation no longer counts toward consensus; when the task's results were
    already applied to the data, the item is applied again (``labeling_item_apply``).
    """
    task = annotation.item.task
    if kind not in ReviewKind.values or verdict not in Verdict.values:
        raise InvalidInput("kind must be cross or spot; verdict accept, correct or reject.")
    if annotation.labeler_id == reviewer.pk:
        raise Forbidden("Nobody reviews their own labels.", code="own_label")
    if kind == ReviewKind.SPOT:
        if not can_spot_check(reviewer):
            raise Forbidden("Spot-checks are for experts.")
        if batch is None or not batch.entries.filter(annotation=annotation).exists():
            raise NotFound("This label is not in that spot-check batch.")
    elif not can_cross_review(reviewer, task):
        raise NotFound("No such label for you.")
    if verdict == Verdict.CORRECT:
        if corrected_value is None:
            raise InvalidInput("A correction needs corrected_value.")
        corrected_value = value_validate(task=task, value=corrected_value)
    else:
        corrected_value = None
    try:
        with transaction.atomic():
            review = Review.objects.create(
                annotation=annotation,
                reviewer=reviewer,
                kind=kind,
                verdict=verdict,
                corrected_value=corrected_value,
                comment=comment[:2000],
                batch=batch if kind == ReviewKind.SPOT else None,
            )
            outranked = (
                kind == ReviewKind.CROSS
                and annotation.reviews.filter(kind=ReviewKind.SPOT).exclude(pk=review.pk).exists()
            )
            if not outranked:
                before = annotation.status
                Annotation.objects.filter(pk=annotation.pk).update(
                    status=STATUS_FOR_VERDICT[verdict]
                )
                annotation.status = STATUS_FOR_VERDICT[verdict]
                audit_record(
                    action=f"annotation.{kind}_review",
                    obj=annotation,
                    before={"status": before},
                    after={"status": annotation.status},
                    note=comment[:500],
                )
            item = TaskItem.objects.select_related("task", "prompt", "pair").get(
                pk=annotation.item_id
            )
            if item.applied_at is not None:
                from labeling.services.effects import labeling_item_apply

                labeling_item_apply(item=item)
    except IntegrityError:
        raise Conflict("You have already reviewed this label.", code="already_reviewed") from None
    return review
