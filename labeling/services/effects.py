"""What labeling changes in the data (through evalhub's and training's own models/services):
a consensus label on a prompt joins ``Prompt.labels``; on a pair ``PreferencePair.labels``; a
preference task on pairs sets ``PreferencePair.review_status`` (majority "a" = the pair as
stored is right: accepted; "b" or "tie": rejected, so it never enters a dataset).

Applying is idempotent and runs again for an item whose labels are reviewed later: labels the
previous consensus added and the new one lacks are taken off again, and a pair whose
consensus went away returns to "unreviewed".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from evalhub.models import Label
from evalhub.services.audit import audit_record
from evalhub.services.errors import Conflict, InvalidInput
from labeling.models import (
    ItemState,
    LabelerExclusion,
    LabelingTask,
    QuestionKind,
    TaskItem,
    TaskStatus,
)
from training.services.review import pair_review_set

PAIR_STATUS_FOR_PREFERENCE = {"a": "accepted", "b": "rejected", "tie": "rejected"}


def _labels_of(value: dict[str, Any] | None) -> set[int]:
    return set((value or {}).get("labels", []))


def _apply_outcome(task: LabelingTask, outcome: Any) -> None:
    item: TaskItem = outcome.item
    previous = item.consensus if item.applied_at is not None else None
    consensus = outcome.consensus
    if task.question_kind == QuestionKind.LABELS:
        added, dropped = _labels_of(consensus), _labels_of(previous) - _labels_of(consensus)
        target = item.prompt if item.prompt_id else item.pair if item.pair_id else None
        if target is not None:
            if added:
                target.labels.add(*Label.objects.filter(pk__in=added))
            if dropped:
                target.labels.remove(*Label.objects.filter(pk__in=dropped))
    elif task.question_kind == QuestionKind.PREFERENCE and item.pair_id:
        if consensus is not None:
            status = PAIR_STATUS_FOR_PREFERENCE[consensus["preference"]]
        else:
            status = "unreviewed"
        if consensus is not None or previous is not None:
            pair_review_set(pair=item.pair, review_status=status, note=f"labeling task {task.pk}")
    item.consensus = consensus
    item.agreement = outcome.agreement
    item.state = (
        ItemState.CONSENSUS
        if consensus is not None
        else ItemState.DISAGREED
        if outcome.disagreed
        else ItemState.OPEN
    )
    item.applied_at = timezone.now()
    item.save(update_fields=["consensus", "agreement", "state", "applied_at"])


def labeling_task_apply(
    *, task: LabelingTask, progress: Callable[..., None] | None = None
) -> dict[str, int]:
    """Write each complete item's consensus to the data; returns counts by state.
    ``progress(done, total)`` is called as items are applied (the CLI's bar)."""
    from labeling.selectors import task_item_outcomes

    if task.status == TaskStatus.DRAFT:
        raise Conflict("A draft task has no results to apply.", code="task_draft")
    counts = {"consensus": 0, "disagreed": 0, "open": 0}
    outcomes = task_item_outcomes(task=task)
    with transaction.atomic():
        for done, outcome in enumerate(outcomes, start=1):
            if progress is not None and (done % 100 == 0 or done == len(outcomes)):
                progress(done, len(outcomes))
            if not outcome.complete and outcome.item.applied_at is None:
                counts["open"] += 1
                continue
            _apply_outcome(task, outcome)
            counts[outcome.item.state] += 1
        audit_record(action="labeling_task.apply", obj=task, after=counts)
    return counts


def labeling_item_apply(*, item: TaskItem) -> None:
    """Apply one item again (after a review changed what counts)."""
    from labeling.selectors import task_item_outcomes

    outcomes = task_item_outcomes(task=item.task, item_ids=[item.pk])
    if outcomes:
        with transaction.atomic():
            _apply_outcome(item.task, outcomes[0])


def labeler_exclude(
    *,
    task: LabelingTask,
    labeler: AbstractBaseUser,
    reason: str = "",
    gold_accuracy: float | None = None,
    created_by: AbstractBaseUser | None = None,
) -> LabelerExclusion:
    """Stop counting ``labeler``'s answers in ``task`` (and stop serving them); idempotent."""
    if not reason.strip() and gold_accuracy is None:
        raise InvalidInput("Say why the labeler is excluded.")
    with transaction.atomic():
        exclusion, created = LabelerExclusion.objects.get_or_create(
            task=task,
            labeler=labeler,
            defaults={
                "reason": reason[:300],
                "gold_accuracy": gold_accuracy,
                "created_by": created_by,
            },
        )
        if created:
            audit_record(action="labeling.exclude", obj=exclusion, after={"reason": reason})
    return exclusion


def labelers_exclude_flagged(
    *, task: LabelingTask, created_by: AbstractBaseUser | None = None
) -> list[LabelerExclusion]:
    """Exclude every labeler the gold items flag in this task."""
    from django.contrib.auth import get_user_model

    from labeling.selectors import labeler_accuracy

    users = get_user_model().objects
    return [
        labeler_exclude(
            task=task,
            labeler=users.get(pk=row.labeler_id),
            reason=f"gold accuracy {row.gold_accuracy:.0%} below {task.gold_min_accuracy:.0%}",
            gold_accuracy=row.gold_accuracy,
            created_by=created_by,
        )
        for row in labeler_accuracy(task=task)
        if row.flagged and not row.excluded
    ]


def labeler_include(*, task: LabelingTask, labeler: AbstractBaseUser) -> None:
    with transaction.atomic():
        exclusion = LabelerExclusion.objects.filter(task=task, labeler=labeler).first()
        if exclusion is not None:
            audit_record(
                action="labeling.include", obj=exclusion, before={"reason": exclusion.reason}
            )
            exclusion.delete()
