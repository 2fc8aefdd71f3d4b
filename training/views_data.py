"""/data/ pages: sources with their figures (list, detail, create and edit forms), the label
taxonomy (tree, rename / describe / move / merge forms, history) and results per label.

Reading needs ``evalhub.view_reports`` (pm, admin); changing needs ``evalhub.manage_data``.
Every change goes through the evalhub services (audited, with LabelEvent history).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from evalhub.models import DataSource, Label
from evalhub.roles import has_perm_cached
from evalhub.selectors.labels import label_events, label_tree, label_tree_rows
from evalhub.services.errors import ServiceError
from evalhub.services.labels import (
    label_create,
    label_describe,
    label_merge,
    label_move,
    label_rename,
)
from evalhub.services.sources import data_source_create, data_source_update
from training.forms_data import (
    DataSourceForm,
    LabelCreateForm,
    LabelDescribeForm,
    LabelMergeForm,
    LabelMoveForm,
    LabelRenameForm,
    ResultsFilterForm,
)
from training.selectors.data_figures import label_results, source_figures

VIEW = "evalhub.view_reports"
MANAGE = "evalhub.manage_data"


def _reader(view: Any) -> Any:
    return login_required(permission_required(VIEW, raise_exception=True)(view))


def _manager(view: Any) -> Any:
    return login_required(permission_required(MANAGE, raise_exception=True)(view))


@_reader
def sources_list(request: HttpRequest) -> HttpResponse:
    context = {"rows": source_figures(), "can_manage": has_perm_cached(request.user, MANAGE)}
    return render(request, "training/data_sources.html", context)


@_manager
def source_new(request: HttpRequest) -> HttpResponse:
    form = DataSourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "is_active"}
        try:
            source = data_source_create(created_by=request.user, **data)
            messages.success(request, f"Source {source.name!r} registered.")
            return redirect("data-source", pk=source.pk)
        except ServiceError as exc:
            form.add_error(None, str(exc))
    return render(request, "training/data_source_form.html", {"form": form, "source": None})


@_reader
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(DataSource.objects.select_related("created_by"), pk=pk)
    (figures,) = source_figures(source=source)
    context = {
        "source": source,
        "figures": figures,
        "can_manage": has_perm_cached(request.user, MANAGE),
        "form": DataSourceForm.for_source(source),
    }
    return render(request, "training/data_source_detail.html", context)


@_manager
def source_edit(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(DataSource, pk=pk)
    form = DataSourceForm.for_source(source, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data_source_update(source=source, **form.cleaned_data)
            messages.success(request, "Source saved.")
            return redirect("data-source", pk=source.pk)
        except ServiceError as exc:
            form.add_error(None, str(exc))
    return render(request, "training/data_source_form.html", {"form": form, "source": source})


@_reader
def taxonomy(request: HttpRequest) -> HttpResponse:
    ref = request.GET.get("label", "")
    selected = (
        Label.objects.select_related("merged_into").filter(pk=int(ref)).first()
        if ref.isdecimal()
        else None
    )
    context = {
        "selected": selected,
        "selected_events": label_events(label=selected) if selected else [],
        "rows": label_tree_rows(label_tree()),
        "merged": Label.objects.filter(merged_into__isnull=False).select_related("merged_into"),
        "events": label_events(limit=100),
        "can_manage": has_perm_cached(request.user, MANAGE),
        "create_form": LabelCreateForm(),
        "rename_form": LabelRenameForm(initial={"name": getattr(selected, "name", "")}),
        "describe_form": LabelDescribeForm(
            initial={"description": getattr(selected, "description", "")}
        ),
        "move_form": LabelMoveForm(initial={"parent": getattr(selected, "parent_id", None)}),
        "merge_form": LabelMergeForm(),
    }
    if selected is not None:  # a label is never merged into or moved under itself
        for form, field in ((context["merge_form"], "into"), (context["move_form"], "parent")):
            form.fields[field].queryset = form.fields[field].queryset.exclude(pk=selected.pk)
    return render(request, "training/data_labels.html", context)


def _label_change(
    request: HttpRequest,
    form: Any,
    change: Callable[[dict[str, Any]], str],
    label_id: int | None = None,
) -> HttpResponse:
    if form.is_valid():
        try:
            messages.success(request, change(form.cleaned_data))
        except ServiceError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Check the form: " + form.errors.as_text())
    if label_id is None:
        return redirect("data-labels")
    return redirect(f"{reverse('data-labels')}?label={label_id}#selected")


@require_POST
@_manager
def label_new(request: HttpRequest) -> HttpResponse:
    def change(data: dict[str, Any]) -> str:
        label = label_create(actor=request.user, **data)
        return f"Label {label.name!r} created."

    return _label_change(request, LabelCreateForm(request.POST), change)


@require_POST
@_manager
def label_rename_view(request: HttpRequest, pk: int) -> HttpResponse:
    label = get_object_or_404(Label, pk=pk)
    old = label.name

    def change(data: dict[str, Any]) -> str:
        renamed = label_rename(label=label, name=data["name"], actor=request.user)
        return f"Renamed {old!r} to {renamed.name!r}; imports naming {old!r} still land on it."

    return _label_change(request, LabelRenameForm(request.POST), change, pk)


@require_POST
@_manager
def label_describe_view(request: HttpRequest, pk: int) -> HttpResponse:
    label = get_object_or_404(Label, pk=pk)

    def change(data: dict[str, Any]) -> str:
        label_describe(label=label, description=data["description"], actor=request.user)
        return f"Description of {label.name!r} saved."

    return _label_change(request, LabelDescribeForm(request.POST), change, pk)


@require_POST
@_manager
def label_move_view(request: HttpRequest, pk: int) -> HttpResponse:
    label = get_object_or_404(Label, pk=pk)

    def change(data: dict[str, Any]) -> str:
        moved = label_move(label=label, parent=data["parent"], actor=request.user)
        where = moved.parent.name if moved.parent else "the top level"
        return f"Moved {moved.name!r} under {where}."

    return _label_change(request, LabelMoveForm(request.POST), change, pk)


@require_POST
@_manager
def label_merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    label = get_object_or_404(Label, pk=pk)

    def change(data: dict[str, Any]) -> str:
        event = label_merge(label=label, into=data["into"], actor=request.user)
        moved = ", ".join(f"{len(ids)} {kind}" for kind, ids in event.moved.items() if ids)
        return f"Merged {label.name!r} into {data['into'].name!r} ({moved or 'nothing moved'})."

    return _label_change(request, LabelMergeForm(request.POST), change, pk)


@_reader
def label_results_page(request: HttpRequest) -> HttpResponse:
    form = ResultsFilterForm(request.GET or None)
    campaign, thresholds = None, {}
    if form.is_valid():
        campaign = form.cleaned_data["campaign"]
        thresholds = {
            key: form.cleaned_data[key]
            for key in ("min_pairs", "min_decisive")
            if form.cleaned_data[key] is not None
        }
    results = label_results(campaign=campaign, **thresholds)
    return render(request, "training/data_results.html", {"form": form, "results": results})
