"""/training/ pages: pairs and datasets, dataset versions with their exports and lineage,
training runs (form with memory estimate, live progress, cancel, resume), model lineage.

Reading needs ``training.view_trainingrun`` (pm, admin); building, freezing, training and
cancelling need ``training.manage_training`` (admin). Run pages poll ``runs/<id>/live`` every
2 s while the run is queued or running.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from evalhub.models import ModelVersion
from evalhub.roles import has_perm_cached
from evalhub.services.errors import ServiceError
from training.forms import DatasetFreezeForm, PairsBuildForm, TrainingRunForm
from training.models import DatasetVersion
from training.selectors.datasets import dataset_items_sample, datasets_list, pair_overview
from training.selectors.lineage import dataset_lineage, model_version_lineage
from training.selectors.runs import (
    memory_estimate,
    training_run_get,
    training_run_live,
    training_runs_list,
)
from training.services.exports import EXPORT_FORMATS, EXPORT_SPLITS, dataset_export_file
from training.services.jobs import dataset_freeze_enqueue, pairs_build_enqueue
from training.services.runs import training_run_cancel, training_run_resume, training_run_start

VIEW = "training.view_trainingrun"
MANAGE = "training.manage_training"
LIST_LIMIT = 50


def _reader(view: Any) -> Any:
    return login_required(permission_required(VIEW, raise_exception=True)(view))


def _manager(view: Any) -> Any:
    return login_required(permission_required(MANAGE, raise_exception=True)(view))


def _run_or_404(pk: int) -> Any:
    try:
        return training_run_get(pk)
    except ServiceError as exc:
        raise Http404(str(exc)) from exc


@_reader
def overview(request: HttpRequest) -> HttpResponse:
    context = {
        "pairs": pair_overview(),
        "datasets": list(datasets_list()[:LIST_LIMIT]),
        "runs": list(training_runs_list()[:LIST_LIMIT]),
        "build_form": PairsBuildForm(),
        "freeze_form": DatasetFreezeForm(),
        "can_manage": has_perm_cached(request.user, MANAGE),
    }
    return render(request, "training/overview.html", context)


@require_POST
@_manager
def pairs_build(request: HttpRequest) -> HttpResponse:
    form = PairsBuildForm(request.POST)
    if form.is_valid():
        try:
            job = pairs_build_enqueue(
                sources=form.cleaned_data["sources"],
                campaigns=form.cleaned_data["campaigns"],
                include_simulated=form.cleaned_data["include_simulated"],
                created_by=request.user,
            )
            messages.success(request, f"Pair build queued (job {job.pk}).")
        except ServiceError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Check the pair-build form: " + form.errors.as_text())
    return redirect("training")


@_manager
def dataset_freeze(request: HttpRequest) -> HttpResponse:
    form = DatasetFreezeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = dataset_freeze_enqueue(
                name=data["name"], filters=form.job_filters(), split=data["split"],
                seed=data["seed"], near_duplicate_threshold=data["near_duplicate_threshold"],
                description=data["description"], created_by=request.user,
            )  # fmt: skip
            messages.success(request, f"Freezing {data['name']!r} (job {job.pk}).")
            return redirect("training")
        except ServiceError as exc:
            form.add_error(None, str(exc))
    return render(request, "training/dataset_freeze.html", {"form": form})


@_reader
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(DatasetVersion.objects.select_related("created_by"), pk=pk)
    counts = dataset.counts
    context = {
        "dataset": dataset,
        "kinds": [(k, counts.get(k, {})) for k in ("pairs", "sft", "kto") if counts.get(k)],
        "by_label": counts.get("by_label", {}),
        "dedup": [(k.replace("_", " "), v) for k, v in counts.get("dedup", {}).items()],
        "formats": EXPORT_FORMATS,
        "splits": EXPORT_SPLITS,
        "runs": dataset_lineage(dataset),
        "sample": dataset_items_sample(dataset, split="train"),
    }
    return render(request, "training/dataset_detail.html", context)


@_reader
def dataset_download(request: HttpRequest, pk: int, fmt: str, split: str) -> FileResponse:
    dataset = get_object_or_404(DatasetVersion, pk=pk)
    try:
        path = dataset_export_file(dataset=dataset, fmt=fmt, split=split)
    except ServiceError as exc:
        raise Http404(str(exc)) from exc
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=f"{dataset.name}-{fmt}-{split}{path.suffix}"
    )


@_manager
def run_new(request: HttpRequest) -> HttpResponse:
    form = TrainingRunForm(request.POST or None, initial=request.GET.dict() or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = training_run_start(
                dataset=data["dataset"], start_model=data["start_model"], method=data["method"],
                config=form.config(), compare_against=data["compare_against"], name=data["name"],
                created_by=request.user,
            )  # fmt: skip
            return redirect("training-run", pk=run.pk)
        except ServiceError as exc:
            form.add_error(None, str(exc))
    start = form["start_model"].value()
    model = ModelVersion.objects.filter(pk=start).first() if start else None
    model = model or form.fields["start_model"].queryset.first()
    estimate = memory_estimate(model) if model else None
    return render(request, "training/run_form.html", {"form": form, "estimate": estimate})


@_reader
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    context = {
        "run": run,
        "live": training_run_live(run),
        "chart": loss_chart(run.metrics or []),
        "recent": list(reversed((run.metrics or [])[-12:])),
        "config_items": [(key, json.dumps(value)) for key, value in (run.config or {}).items()],
        "can_manage": has_perm_cached(request.user, MANAGE),
    }
    return render(request, "training/run_detail.html", context)


@_reader
def run_live(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(training_run_live(_run_or_404(pk)))


@require_POST
@_manager
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        training_run_cancel(run=_run_or_404(pk))
        messages.success(request, "Cancel requested: the training process stops within a second.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("training-run", pk=pk)


@require_POST
@_manager
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = training_run_resume(run=_run_or_404(pk), created_by=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("training-run", pk=pk)
    messages.success(request, "A new run resumes from the last checkpoint.")
    return redirect("training-run", pk=run.pk)


@_reader
def memory(request: HttpRequest) -> JsonResponse:
    model = get_object_or_404(ModelVersion, pk=request.GET.get("model") or 0)
    try:
        numbers = {k: int(request.GET.get(k, d)) for k, d in
                   (("batch_size", 8), ("seq_len", 1024), ("lora_r", 16))}  # fmt: skip
    except ValueError:
        return JsonResponse(
            {"error": "batch_size, seq_len and lora_r must be integers"}, status=400
        )
    if min(numbers.values()) < 1:
        return JsonResponse({"error": "batch_size, seq_len and lora_r must be >= 1"}, status=400)
    method = request.GET.get("method", "dpo")
    return JsonResponse(memory_estimate(model, method=method, **numbers))


@_reader
def model_lineage(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_object_or_404(ModelVersion.objects.select_related("parent"), pk=pk)
    return render(request, "training/model_lineage.html", model_version_lineage(model))


def loss_chart(metrics: list[dict[str, Any]], width: int = 560, height: int = 140) -> dict | None:
    """SVG polyline points for loss and reward accuracy over steps (None with < 2 points)."""
    points = [m for m in metrics if m.get("loss") is not None]
    if len(points) < 2:
        return None
    steps = [m["step"] for m in points]
    losses = [m["loss"] for m in points]
    low, high = min(losses), max(losses)
    span_x, span_y = max(steps[-1] - steps[0], 1), max(high - low, 1e-9)

    def x(step: int) -> float:
        return round(8 + (width - 16) * (step - steps[0]) / span_x, 1)

    def polyline(values: list[float], lo: float, span: float) -> str:
        return " ".join(
            f"{x(s)},{round(height - 8 - (height - 16) * (v - lo) / span, 1)}"
            for s, v in zip(steps, values, strict=True)
        )

    accuracy = [m.get("reward_accuracy") for m in points]
    return {
        "width": width,
        "height": height,
        "loss": polyline(losses, low, span_y),
        "accuracy": polyline(accuracy, 0.0, 1.0) if None not in accuracy else "",
        "loss_low": low,
        "loss_high": high,
        "first_step": steps[0],
        "last_step": steps[-1],
    }
