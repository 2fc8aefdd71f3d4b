"""Labeling tasks: create with items (and gold items), open, close, and build the next layer
from a task's disagreements."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from evalhub.models import Label, Output, Prompt
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput
from labeling.models import (
    Audience,
    ItemKind,
    LabelingTask,
    QuestionKind,
    TaskItem,
    TaskStatus,
)
from labeling.services.values import label_resolve, value_validate
from training.models import PreferencePair

MAX_ITEMS_PER_CALL = 10_000


def _descendants(root: Label) -> list[Label]:
    found, frontier = [], [root]
    while frontier:
        children = list(Label.objects.filter(parent__in=frontier, is_active=True))
        found += children
        frontier = children
    return found


def labeling_task_create(
    *,
    name: str,
    item_kind: str,
    question_kind: str,
    created_by: AbstractBaseUser | None = None,
    labels: Iterable[Label] = (),
    label_root: Label | None = None,
    multi_select: bool = False,
    rubric: str = "",
    description: str = "",
    audience: str = Audience.USER,
    k: int = 3,
    batch_size: int = 10,
    min_agreement: float = 0.6,
    gold_share: float = 0.0,
    gold_min_accuracy: float = 0.8,
    gold_min_answers: int = 5,
    spot_check_rate: float = 0.05,
    seed: int = 0,
    items: Iterable[dict[str, Any]] = (),
) -> LabelingTask:
    """A draft task; ``labels`` (and the active subtree under ``label_root``) are its answers,
    merged labels resolved to their survivor. ``items`` as in :func:`task_items_add`."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A task needs a name of 1 to 200 characters.")
    if item_kind not in ItemKind.values or question_kind not in QuestionKind.values:
        raise InvalidInput("Unknown item_kind or question_kind.")
    if audience not in Audience.values:
        raise InvalidInput(f"audience must be one of {', '.join(Audience.values)}.")
    if question_kind == QuestionKind.PREFERENCE and item_kind == ItemKind.PROMPT:
        raise InvalidInput("A preference needs two answers: use pairs or outputs.")
    if not 1 <= k <= 50 or not 1 <= batch_size <= 500:
        raise InvalidInput("k must be 1-50 and batch_size 1-500.")
    for field, value, low in (
        ("gold_share", gold_share, 0.0),
        ("gold_min_accuracy", gold_min_accuracy, 0.0),
        ("spot_check_rate", spot_check_rate, 1e-9),
        ("min_agreement", min_agreement, 1e-9),
    ):
        if not low <= value <= 1:
            raise InvalidInput(f"{field} must lie in ({low}, 1].", details={"field": field})
    if not 0 <= seed < 2**62:
        raise InvalidInput("seed must lie in [0, 2**62).", details={"field": "seed"})
    chosen = {label_resolve(label) for label in labels}
    if label_root is not None:
        chosen |= {label_resolve(label_root), *map(label_resolve, _descendants(label_root))}
    chosen = {label for label in chosen if label.is_active}
    if question_kind == QuestionKind.LABELS and not chosen:
        raise InvalidInput("A labels question needs at least one active label.")
    with transaction.atomic():
        task = LabelingTask.objects.create(
            name=name,
            description=description,
            item_kind=item_kind,
            question_kind=question_kind,
            multi_select=multi_select,
            rubric=rubric,
            audience=audience,
            k=k,
            batch_size=batch_size,
            min_agreement=min_agreement,
            gold_share=gold_share,
            gold_min_accuracy=gold_min_accuracy,
            gold_min_answers=gold_min_answers,
            spot_check_rate=spot_check_rate,
            seed=seed,
            created_by=created_by,
        )
        task.labels.set(chosen)
        task_items_add(task=task, items=items)
        audit_record(action="labeling_task.create", obj=task, after=audit_snapshot(task))
    return task


def _subject(task: LabelingTask, spec: dict[str, Any]) -> dict[str, Any]:
    def get(model: Any, key: str) -> Any:
        value = spec.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**62:
            raise InvalidInput(f"Each item needs an integer {key!r}.", details={"item": spec})
        found = model.objects.filter(pk=value).first()
        if found is None:
            raise InvalidInput(f"No {key} with id {value}.", details={"item": spec})
        return found

    if task.item_kind == ItemKind.PROMPT:
        return {"prompt": get(Prompt, "prompt")}
    if task.item_kind == ItemKind.PAIR:
        return {"pair": get(PreferencePair, "pair")}
    subject = {"output": get(Output, "output")}
    if task.question_kind == QuestionKind.PREFERENCE:
        subject["output_b"] = get(Output, "output_b")
        if subject["output_b"].prompt_id != subject["output"].prompt_id:
            raise InvalidInput("Both outputs must answer the same prompt.", details={"item": spec})
    return subject


def task_items_add(*, task: LabelingTask, items: Iterable[dict[str, Any]]) -> int:
    """Add items: ``{"prompt": id}``, ``{"output": id[, "output_b": id]}`` or ``{"pair": id}``,
    each optionally with ``"gold_answer"`` (a value in the task's answer shape) and
    ``"gold_kind"`` (gold | attention). Returns how many were added."""
    specs = list(items)
    if len(specs) > MAX_ITEMS_PER_CALL:
        raise InvalidInput(f"At most {MAX_ITEMS_PER_CALL} items per call.")
    if task.status == TaskStatus.CLOSED:
        raise Conflict("A closed task takes no new items.", code="task_closed")
    start = task.items.count()
    rows = []
    for offset, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise InvalidInput("Each item must be an object.")
        gold_answer = spec.get("gold_answer")
        gold_kind = spec.get("gold_kind") or ("gold" if gold_answer is not None else "")
        if gold_kind not in ("", "gold", "attention"):
            raise InvalidInput("gold_kind must be gold or attention.")
        if gold_answer is not None:
            gold_answer = value_validate(task=task, value=gold_answer)
        rows.append(
            TaskItem(
                task=task,
                position=start + offset,
                is_gold=gold_answer is not None,
                gold_kind=gold_kind if gold_answer is not None else "",
                gold_answer=gold_answer,
                **_subject(task, spec),
            )
        )
    with transaction.atomic():
        TaskItem.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _set_status(task: LabelingTask, status: str, action: str) -> LabelingTask:
    with transaction.atomic():
        task = LabelingTask.objects.select_for_update().get(pk=task.pk)
        before = audit_snapshot(task, ["status", "closed_at"])
        task.status = status
        task.closed_at = timezone.now() if status == TaskStatus.CLOSED else None
        task.save(update_fields=["status", "closed_at"])
        audit_record(action=action, obj=task, before=before, after=audit_snapshot(task, before))
    return task


def labeling_task_open(*, task: LabelingTask) -> LabelingTask:
    if task.status == TaskStatus.OPEN:
        return task
    if not task.items.filter(is_gold=False).exists():
        raise Conflict("Add items before opening the task.", code="task_empty")
    return _set_status(task, TaskStatus.OPEN, "labeling_task.open")


def labeling_task_close(*, task: LabelingTask) -> LabelingTask:
    if task.status == TaskStatus.CLOSED:
        return task
    return _set_status(task, TaskStatus.CLOSED, "labeling_task.close")


def labeling_task_create_next_layer(
    *,
    task: LabelingTask,
    created_by: AbstractBaseUser | None = None,
    audience: str | None = None,
    k: int | None = None,
) -> LabelingTask:
    """A layer ``task.layer + 1`` task over only the items ``task``'s labelers disagreed on
    (complete items without consensus). Same question and answers; a new draft."""
    from labeling.selectors import task_item_outcomes

    disagreed = [o.item for o in task_item_outcomes(task=task) if o.disagreed]
    if not disagreed:
        raise Conflict("No disagreements to send to a next layer.", code="no_disagreements")
    with transaction.atomic():
        child = LabelingTask.objects.create(
            name=f"{task.name[:180]} - layer {task.layer + 1}",
            description=task.description,
            item_kind=task.item_kind,
            question_kind=task.question_kind,
            multi_select=task.multi_select,
            rubric=task.rubric,
            audience=audience or task.audience,
            k=k or task.k,
            batch_size=task.batch_size,
            layer=task.layer + 1,
            parent=task,
            min_agreement=task.min_agreement,
            gold_share=0.0,
            gold_min_accuracy=task.gold_min_accuracy,
            gold_min_answers=task.gold_min_answers,
            spot_check_rate=task.spot_check_rate,
            seed=task.seed,
            created_by=created_by,
        )
        child.labels.set(task.labels.all())
        TaskItem.objects.bulk_create(
            TaskItem(
                task=child,
                position=position,
                prompt_id=item.prompt_id,
                output_id=item.output_id,
                output_b_id=item.output_b_id,
                pair_id=item.pair_id,
                source_item=item,
            )
            for position, item in enumerate(disagreed)
        )
        audit_record(
            action="labeling_task.next_layer",
            obj=child,
            after={"parent": task.pk, "items": len(disagreed)},
        )
    return child
