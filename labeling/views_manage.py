"""/labeling/manage/ pages for pm and admin (``evalhub.manage_data``): the task list and the
create form, a task's progress per person, agreement, disagreements, labeler accuracy and
flags, and its actions (open, close, apply, next layer, spot-check batch, exclude)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from evalhub.markdown import render_markdown
from evalhub.services.errors import ServiceError
from labeling.display import value_text
from labeling.forms import SpotCheckForm, TaskForm
from labeling.selectors import (
    ai_agreement,
    labeler_accuracy,
    spot_check_batches,
    task_alpha,
    task_get,
    task_item_outcomes,
    task_progress,
    tasks_list,
)
from labeling.services.access import MANAGE
from labeling.services.effects import (
    labeler_exclude,
    labeler_include,
    labelers_exclude_flagged,
    labeling_task_apply,
)
from labeling.services.reviews import spot_check_batch_create
from labeling.services.tasks import (
    labeling_task_close,
    labeling_task_create,
    labeling_task_create_next_layer,
    labeling_task_open,
)

DISAGREEMENTS_SHOWN = 50


def _manager(view: Any) -> Any:
    return login_required(permission_required(MANAGE, raise_exception=True)(view))


def _task_or_404(pk: int) -> Any:
    try:
        return task_get(pk)
    except ServiceError as exc:
        raise Http404(str(exc)) from exc


@_manager
def task_list(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            task = labeling_task_create(**form.cleaned_data, created_by=request.user)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Task created with {task.items.count()} items (draft).")
            return redirect("labeling-manage-task", pk=task.pk)
    context = {"tasks": list(tasks_list()[:100]), "form": form, "labelers": labeler_accuracy()}
    return render(request, "labeling/manage_list.html", context)


@_manager
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task_or_404(pk)
    outcomes = task_item_outcomes(task=task)
    names = dict(task.labels.values_list("pk", "name"))
    disagreements = [
        {
            "item": o.item,
            "answers": [value_text(a, names) for a in o.answers],
            "agreement": o.agreement,
        }
        for o in outcomes
        if o.disagreed
    ]
    context = {
        "task": task,
        "rubric_html": render_markdown(task.rubric) if task.rubric else "",
        "progress": task_progress(task=task),
        "alpha": task_alpha(task=task, outcomes=outcomes),
        "ai": ai_agreement(task=task, outcomes=outcomes),
        "n_consensus": sum(o.consensus is not None for o in outcomes),
        "n_disagreed": len(disagreements),
        "disagreements": disagreements[:DISAGREEMENTS_SHOWN],
        "labelers": labeler_accuracy(task=task),
        "batches": list(spot_check_batches(task=task)[:20]),
        "layers": list(task.next_layers.all()),
        "spot_form": SpotCheckForm(),
    }
    return render(request, "labeling/manage_task.html", context)


@require_POST
@_manager
def task_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    task = _task_or_404(pk)
    try:
        match action:
            case "open":
                labeling_task_open(task=task)
                messages.success(request, "The task is open.")
            case "close":
                labeling_task_close(task=task)
                messages.success(request, "The task is closed.")
            case "apply":
                counts = labeling_task_apply(task=task)
                messages.success(request, f"Applied: {counts['consensus']} with consensus, "
                                 f"{counts['disagreed']} disagreed, {counts['open']} open.")  # fmt: skip
            case "next-layer":
                child = labeling_task_create_next_layer(
                    task=task,
                    created_by=request.user,
                    audience=request.POST.get("audience") or None,
                )
                messages.success(request, f"Layer {child.layer} created (draft).")
                return redirect("labeling-manage-task", pk=child.pk)
            case "spotcheck":
                form = SpotCheckForm(request.POST)
                if not form.is_valid():
                    messages.error(request, "Give a rate in (0, 1] and a seed >= 0.")
                    return redirect("labeling-manage-task", pk=task.pk)
                values = {k: v for k, v in form.cleaned_data.items() if v is not None}
                batch = spot_check_batch_create(task=task, created_by=request.user, **values)
                messages.success(request, f"Spot-check batch {batch.pk}: "
                                 f"{batch.entries.count()} of {batch.population} labels.")  # fmt: skip
            case "exclude-flagged":
                excluded = labelers_exclude_flagged(task=task, created_by=request.user)
                messages.success(request, f"{len(excluded)} flagged labelers excluded.")
            case "exclude" | "include":
                user = get_user_model().objects.filter(pk=_int(request.POST.get("labeler"))).first()
                if user is None:
                    raise Http404("No such labeler.")
                if action == "exclude":
                    labeler_exclude(task=task, labeler=user, created_by=request.user,
                                    reason=request.POST.get("reason") or "excluded by a manager")  # fmt: skip
                else:
                    labeler_include(task=task, labeler=user)
                messages.success(request, f"{user.get_username()}: {action}d.")
            case _:
                raise Http404("No such action.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("labeling-manage-task", pk=task.pk)


def _int(raw: Any) -> int:
    return int(raw) if isinstance(raw, str) and raw.isdecimal() and len(raw) < 15 else 0
