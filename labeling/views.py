"""/labeling/ pages for labelers and reviewers (keyboard-first, like /rate/).

- ``/labeling/``: my open tasks with progress, the review queue, spot-check batches (experts).
- ``/labeling/tasks/<id>/``: label the next item (1-9 pick labels or scores, Enter submits,
  s skips); POST records the answer and shows the next one.
- ``/labeling/review/``: cross-review other people's labels (a accept, c correct, r reject).
- ``/labeling/spotcheck/<id>/``: an expert goes through a sampled batch (a accept, c correct,
  r reject, arrows move).

Everything shown comes from ``labeling.display`` (sanitized markdown, no model names).
Service errors become a flash message and a redirect, never a stack trace.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from evalhub.services.errors import ServiceError
from labeling.display import item_view, question_view, value_for_display, value_from_display
from labeling.models import Annotation, QuestionKind
from labeling.selectors import (
    ai_suggestions,
    review_queue,
    spot_check_batch_get,
    spot_check_batches,
    spot_check_entries,
    task_get,
    tasks_for_labeler,
)
from labeling.services.access import can_cross_review, can_label, can_manage, can_spot_check
from labeling.services.access import can_use_labeling as _can_use
from labeling.services.annotations import annotation_submit
from labeling.services.reviews import review_record
from labeling.services.serving import item_get_for_labeler, item_next, item_skip

PAST = {"accept": "accepted", "correct": "corrected", "reject": "rejected"}


def _labeling_user(view: Any) -> Any:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _can_use(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return login_required(wrapped)


def _task_or_404(pk: int) -> Any:
    try:
        return task_get(pk)
    except ServiceError as exc:
        raise Http404(str(exc)) from exc


def value_from_post(task: Any, post: Any) -> dict[str, Any]:
    """The answer from the page's form fields, in the task's answer shape."""
    kind = task.question_kind
    if kind == QuestionKind.LABELS:
        ids = [int(x) for x in post.getlist("labels") if x.isdecimal() and len(x) < 12]
        return {"labels": ids}
    if kind == QuestionKind.SCORE:
        score = post.get("score", "")
        return {"score": int(score) if score.isdecimal() and len(score) < 3 else score}
    if kind == QuestionKind.TEXT:
        return {"text": post.get("text", "")}
    return {"preference": post.get("preference", "")}


def _seconds(post: Any) -> float | None:
    try:
        seconds = float(post.get("seconds", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


@_labeling_user
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "tasks": tasks_for_labeler(user),
        "n_review": len(review_queue(reviewer=user)),
        "batches": list(spot_check_batches()[:20]) if can_spot_check(user) else [],
        "can_manage": can_manage(user),
    }
    return render(request, "labeling/home.html", context)


@_labeling_user
def label(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task_or_404(pk)
    if not can_label(request.user, task):
        raise Http404("No such labeling task.")
    here = reverse("labeling-label", args=[task.pk])
    if request.method == "POST":
        try:
            item = item_get_for_labeler(item_id=_int(request.POST.get("item")),
                                        labeler=request.user)  # fmt: skip
            if "skip" in request.POST:
                item_skip(item=item, labeler=request.user)
            else:
                annotation_submit(
                    item=item,
                    labeler=request.user,
                    value=value_from_display(item, task, value_from_post(task, request.POST)),
                    seconds=_seconds(request.POST),
                    comment=request.POST.get("comment", "")[:2000],
                )
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect(here)
    try:
        item = item_next(task=task, labeler=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("labeling-home")
    mine = Annotation.objects.filter(item__task=task, labeler=request.user).count()
    context = {"task": task, "question": question_view(task), "mine": mine, "done": item is None}
    if item is not None:
        context["view"] = item_view(item, task)
        context["item"] = item
    return render(request, "labeling/label.html", context)


def _int(raw: Any) -> int:
    return int(raw) if isinstance(raw, str) and raw.isdecimal() and len(raw) < 15 else 0


@_labeling_user
def review(request: HttpRequest) -> HttpResponse:
    """Cross-review: one label at a time from the queue."""
    if request.method == "POST":
        annotation = (
            Annotation.objects.select_related("item__task")
            .filter(pk=_int(request.POST.get("annotation")))
            .first()
        )
        try:
            if annotation is None or not can_cross_review(request.user, annotation.item.task):
                raise Http404("No such label.")
            verdict = request.POST.get("verdict", "")
            task = annotation.item.task
            corrected = None
            if verdict == "correct":
                raw = value_from_post(task, request.POST)
                corrected = value_from_display(annotation.item, task, raw)
            review_record(
                annotation=annotation,
                reviewer=request.user,
                kind="cross",
                verdict=verdict,
                corrected_value=corrected,
                comment=request.POST.get("comment", ""),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("labeling-review")
    queue = review_queue(reviewer=request.user)
    context: dict[str, Any] = {"remaining": len(queue)}
    if queue:
        annotation = queue[0]
        task = annotation.item.task
        context.update(
            annotation=annotation,
            task=task,
            question=question_view(task),
            view=item_view(annotation.item, task),
            value=value_for_display(annotation.item, task, annotation.value),
            ai=_ai_rows(
                ai_suggestions([annotation.item_id]).get(annotation.item_id, []),
                annotation.item,
                task,
            ),
        )
    return render(request, "labeling/review.html", context)


def _entry_rows(batch: Any) -> list[dict[str, Any]]:
    rows = []
    entries = spot_check_entries(batch=batch)
    suggestions = ai_suggestions([row["annotation"].item_id for row in entries])
    for row in entries:
        annotation = row["annotation"]
        item = annotation.item
        rows.append(
            {
                **row,
                "view": item_view(item, batch.task),
                "value": value_for_display(item, batch.task, annotation.value),
                "ai": _ai_rows(suggestions.get(item.pk, []), item, batch.task),
            }
        )
    return rows


def _ai_rows(annotations: list[Annotation], item: Any, task: Any) -> list[dict[str, Any]]:
    return [
        {"value": value_for_display(item, task, a.value), "confidence": a.ai_confidence,
         "rationale": a.ai_rationale}
        for a in annotations
    ]  # fmt: skip


@_labeling_user
def spotcheck(request: HttpRequest, pk: int) -> HttpResponse:
    """An expert's pass over a sampled batch; every entry is on the page, one shown at a time."""
    if not can_spot_check(request.user):
        raise PermissionDenied
    try:
        batch = spot_check_batch_get(pk)
    except ServiceError as exc:
        raise Http404(str(exc)) from exc
    task = batch.task
    if request.method == "POST":
        return _spotcheck_post(request, batch)
    rows = _entry_rows(batch)
    at = next((i for i, row in enumerate(rows) if row["review"] is None), len(rows) - 1)
    requested = request.GET.get("at", "")
    if requested.isdecimal() and int(requested) < len(rows):
        at = int(requested)
    context = {
        "batch": batch,
        "task": task,
        "question": question_view(task),
        "rows": rows,
        "at": max(at, 0),
        "n_done": sum(row["review"] is not None for row in rows),
    }
    return render(request, "labeling/spotcheck.html", context)


def _spotcheck_post(request: HttpRequest, batch: Any) -> HttpResponse:
    position = _int(request.POST.get("position"))
    entry = batch.entries.select_related("annotation__item__task").filter(position=position).first()
    if entry is None:
        raise Http404("No such entry.")
    verdict = request.POST.get("verdict", "")
    annotation = entry.annotation
    corrected = None
    if verdict == "correct":
        corrected = value_from_display(
            annotation.item, batch.task, value_from_post(batch.task, request.POST)
        )
    try:
        review_record(
            annotation=annotation,
            reviewer=request.user,
            kind="spot",
            verdict=verdict,
            corrected_value=corrected,
            comment=request.POST.get("comment", ""),
            batch=batch,
        )
        messages.success(request, f"Label {position + 1}: {PAST[verdict]}.")
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('labeling-spotcheck', args=[batch.pk])}?at={position}")
    return redirect(f"{reverse('labeling-spotcheck', args=[batch.pk])}?at={position + 1}")
