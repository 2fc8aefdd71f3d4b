"""Serving items to labelers: a labeler claims a batch of items, fewest labels first, and gets
them one by one; gold items are mixed in at the task's ``gold_share``.

Concurrency: claims are made while the task row is locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite serializes writers through IMMEDIATE transactions), and an item's load is
its human annotations plus live claims, so ``k`` is never overshot. Gold items have no cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from evalhub.services.errors import Conflict, NotFound
from labeling.models import Annotation, Claim, LabelerExclusion, LabelingTask, TaskItem, TaskStatus
from labeling.services.access import can_label

CLAIM_TTL = timedelta(minutes=30)


def _count(model: type, filters: Q) -> Coalesce:
    rows = (
        model.objects.filter(filters, item=OuterRef("pk"))  # type: ignore[attr-defined]
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _with_load(items: QuerySet[TaskItem], *, now: datetime) -> QuerySet[TaskItem]:
    return items.annotate(
        n_labels=_count(Annotation, Q(is_ai=False)),
        n_claims=_count(Claim, Q(expires_at__gt=now, skipped=False)),
    )


def _seen_by(labeler: AbstractBaseUser) -> tuple[Exists, Exists]:
    return (
        Exists(Annotation.objects.filter(item=OuterRef("pk"), labeler=labeler)),
        Exists(Claim.objects.filter(item=OuterRef("pk"), labeler=labeler)),
    )


def _check(task: LabelingTask, labeler: AbstractBaseUser) -> None:
    if not can_label(labeler, task):
        raise NotFound("No such task for you.")
    if task.status != TaskStatus.OPEN:
        raise Conflict("This task is not open for labeling.", code="task_not_open")
    if LabelerExclusion.objects.filter(task=task, labeler=labeler).exists():
        raise Conflict(
            "Your labels in this task are on hold; ask the task's manager.", code="labeler_excluded"
        )


def live_claims(*, task: LabelingTask, labeler: AbstractBaseUser) -> QuerySet[Claim]:
    return Claim.objects.filter(
        item__task=task, labeler=labeler, skipped=False, expires_at__gt=timezone.now()
    ).order_by("id")


def items_claim_batch(
    *, task: LabelingTask, labeler: AbstractBaseUser, size: int | None = None
) -> list[TaskItem]:
    """Claim up to ``size`` (default ``task.batch_size``) items for ``labeler``: items they have
    neither labeled nor skipped, below ``k`` labels + live claims, fewest first; each slot is a
    gold item with probability ``gold_share`` (a seeded draw per labeler and batch)."""
    _check(task, labeler)
    size = max(1, min(size or task.batch_size, 500))
    now = timezone.now()
    with transaction.atomic():
        LabelingTask.objects.select_for_update().filter(pk=task.pk).first()  # serialize claims
        Claim.objects.filter(
            item__task=task, labeler=labeler, skipped=False, expires_at__lte=now
        ).delete()
        labeled, claimed = _seen_by(labeler)
        fresh = TaskItem.objects.filter(task=task).exclude(labeled).exclude(claimed)
        n_seen = Claim.objects.filter(item__task=task, labeler=labeler).count()
        n_seen += Annotation.objects.filter(item__task=task, labeler=labeler).count()
        rng = np.random.default_rng([task.seed, labeler.pk, n_seen])
        n_gold = int((rng.random(size) < task.gold_share).sum()) if task.gold_share else 0
        gold = list(fresh.filter(is_gold=True).order_by("position", "id")[:n_gold])
        regular = (
            _with_load(fresh.filter(is_gold=False), now=now)
            .annotate(load=F("n_labels") + F("n_claims"))
            .filter(load__lt=task.k)
            .order_by("load", "position", "id")
        )
        picked = list(regular[: size - len(gold)])
        if not picked:
            gold = []  # gold is mixed into real work, never served alone
        chosen = picked + gold
        order = rng.permutation(len(chosen)) if chosen else []
        chosen = [chosen[i] for i in order]
        Claim.objects.bulk_create(
            Claim(item=item, labeler=labeler, expires_at=now + CLAIM_TTL) for item in chosen
        )
    return chosen


def item_next(*, task: LabelingTask, labeler: AbstractBaseUser) -> TaskItem | None:
    """The labeler's next item: their oldest live claim, else the first of a new batch."""
    _check(task, labeler)
    claim = live_claims(task=task, labeler=labeler).select_related("item").first()
    if claim is not None:
        return claim.item
    batch = items_claim_batch(task=task, labeler=labeler)
    if not batch:
        return None
    return live_claims(task=task, labeler=labeler).select_related("item").first().item  # type: ignore[union-attr]


def item_skip(*, item: TaskItem, labeler: AbstractBaseUser) -> None:
    """Pass on an item: its slot goes back to others and it is never served to ``labeler``."""
    _check(item.task, labeler)
    updated = Claim.objects.filter(item=item, labeler=labeler).update(
        skipped=True, expires_at=timezone.now()
    )
    if not updated:
        Claim.objects.create(item=item, labeler=labeler, skipped=True, expires_at=timezone.now())


def item_get_for_labeler(*, item_id: int, labeler: AbstractBaseUser) -> TaskItem:
    """An item the labeler may answer (one they hold a claim on); anything else is a 404."""
    if not 0 < item_id < 2**62:
        raise NotFound("No such item for you.")
    claim = (
        Claim.objects.filter(item_id=item_id, labeler=labeler, skipped=False)
        .select_related("item__task")
        .first()
    )
    if claim is None or not can_label(labeler, claim.item.task):
        raise NotFound("No such item for you.")
    return claim.item


def item_has_room(*, item: TaskItem, labeler: AbstractBaseUser) -> bool:
    """Inside the task lock: may ``labeler`` add a label without overshooting ``k``?"""
    if item.is_gold:
        return True
    now = timezone.now()
    mine = Claim.objects.filter(item=item, labeler=labeler, skipped=False, expires_at__gt=now)
    if mine.exists():
        return True
    load = Annotation.objects.filter(item=item, is_ai=False).count()
    load += Claim.objects.filter(item=item, skipped=False, expires_at__gt=now).count()
    return load < item.task.k
