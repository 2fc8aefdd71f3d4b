"""Annotations: a person's answer to an item they were served, and AI pre-labels."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evalhub.models import ModelVersion
from evalhub.services.audit import audit_record
from evalhub.services.errors import Conflict, InvalidInput, NotFound
from labeling.models import Annotation, Claim, LabelerExclusion, LabelingTask, TaskItem, TaskStatus
from labeling.services.access import can_label
from labeling.services.serving import item_has_room
from labeling.services.values import value_key, value_validate


def annotation_create_ai(
    *,
    item: TaskItem,
    ai_model: ModelVersion,
    value: dict[str, Any],
    rationale: str = "",
    confidence: float | None = None,
    meta: dict[str, Any] | None = None,
    requested_by: AbstractBaseUser | None = None,
) -> Annotation:
    """Store an AI judge's pre-label of ``item`` (one per item and model; idempotent).

    Signature (keyword-only): ``annotation_create_ai(item=TaskItem, ai_model=ModelVersion,
    value=dict, rationale="", confidence=None | 0..1, meta=None | dict, requested_by=None | User)``.
    ``value`` takes the task's answer shape (see ``labeling.services.values``), e.g.
    ``{"labels": [3]}``, ``{"score": 4}``, ``{"preference": "a"}``. Calling it again for the same
    item and model returns the stored annotation unchanged (AI labels are never edited). AI
    annotations are shown to reviewers as suggestions; they never count toward ``k`` nor toward
    consensus. Raises ``InvalidInput`` for a value the task does not accept.
    """
    existing = Annotation.objects.filter(item=item, ai_model=ai_model, is_ai=True).first()
    if existing is not None:
        return existing
    canonical = value_validate(task=item.task, value=value)
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidInput("confidence must lie between 0 and 1.")
    try:
        with transaction.atomic():
            annotation = Annotation.objects.create(
                item=item,
                is_ai=True,
                ai_model=ai_model,
                value=canonical,
                ai_rationale=rationale,
                ai_confidence=confidence,
                meta=meta or {},
                created_by=requested_by,
            )
            audit_record(action="annotation.create_ai", obj=annotation, after=canonical)
            return annotation
    except IntegrityError:  # a concurrent call stored it first
        return Annotation.objects.get(item=item, ai_model=ai_model, is_ai=True)


def annotation_submit(
    *,
    item: TaskItem,
    labeler: AbstractBaseUser,
    value: dict[str, Any],
    seconds: float | None = None,
    comment: str = "",
    idempotency_key: str = "",
) -> Annotation:
    """Record ``labeler``'s answer to ``item`` (served to them, or one they hold a claim on).

    One answer per person and item: a retry with the same ``idempotency_key`` returns the stored
    answer; a second, different answer is a ``Conflict``. Gold items are scored at once.
    """
    task = item.task
    if task.status != TaskStatus.OPEN:
        raise Conflict("This task is not open for labeling.", code="task_not_open")
    if not can_label(labeler, task):
        raise NotFound("No such item for you.")
    if LabelerExclusion.objects.filter(task=task, labeler=labeler).exists():
        raise Conflict("Your labels in this task are on hold.", code="labeler_excluded")
    canonical = value_validate(task=task, value=value)
    if seconds is not None and not 0 <= seconds < 86400:
        raise InvalidInput("seconds must lie between 0 and 86400.")
    existing = Annotation.objects.filter(item=item, labeler=labeler, is_ai=False).first()
    if existing is not None:
        return _replay_or_conflict(existing, idempotency_key)
    gold_correct = None
    if item.is_gold:
        gold_correct = value_key(canonical) == value_key(item.gold_answer or {})
    try:
        with transaction.atomic():
            LabelingTask.objects.select_for_update().filter(pk=task.pk).first()
            if not item_has_room(item=item, labeler=labeler):
                raise Conflict("This item has all the labels it needs.", code="item_full")
            annotation = Annotation.objects.create(
                item=item,
                labeler=labeler,
                value=canonical,
                seconds=seconds,
                comment=comment[:2000],
                idempotency_key=idempotency_key[:200],
                is_gold_check=item.is_gold,
                gold_correct=gold_correct,
            )
            Claim.objects.filter(item=item, labeler=labeler).delete()
    except IntegrityError:
        existing = Annotation.objects.get(item=item, labeler=labeler, is_ai=False)
        return _replay_or_conflict(existing, idempotency_key)
    return annotation


def _replay_or_conflict(existing: Annotation, idempotency_key: str) -> Annotation:
    if idempotency_key and existing.idempotency_key == idempotency_key:
        return existing
    raise Conflict("You have already labeled this item.", code="already_labeled")
