"""/assist/ pages: AI judge runs (start, figures, approval, pairs), the per-campaign picture of
human vs AI judge, and augmentation runs. Everything needs ``evalhub.manage_data`` (pm, admin).

Everything shown here is AI output and says so (an "AI" badge, an "AI judge" heading); model
text is autoescaped, never marked safe.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from assist.forms import AugmentForm, JudgeRunForm, PrelabelForm
from assist.models import AugmentationRun, JudgeRun
from assist.selectors.augment import (
    augmentation_records,
    augmentation_runs_list,
    prompts_for_augmentation,
)
from assist.selectors.judge import (
    campaign_human_rate,
    flagged_outputs,
    judge_runs_list,
    verdicts_sample,
)
from assist.services.augment import augmentation_run_create
from assist.services.judge import (
    judge_pairs_publish,
    judge_run_approve,
    judge_run_create,
    judge_run_measure,
)
from assist.services.prelabel import prelabel_run_create
from evalhub.models import Campaign
from evalhub.services.errors import ServiceError

MANAGE = "evalhub.manage_data"
LIST_LIMIT = 30


def _manager(view: Any) -> Any:
    return login_required(permission_required(MANAGE, raise_exception=True)(view))


@_manager
def overview(request: HttpRequest) -> HttpResponse:
    context = {
        "judge_runs": list(judge_runs_list()[:LIST_LIMIT]),
        "augmentations": list(augmentation_runs_list()[:LIST_LIMIT]),
        "judge_form": JudgeRunForm(),
        "augment_form": AugmentForm(),
        "prelabel_form": PrelabelForm(),
    }
    return render(request, "assist/overview.html", context)


def _start(request: HttpRequest, form_class: type, create: Any, what: str) -> HttpResponse:
    """Validate the form, start the run through ``create``, say what happened, show the run."""
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, f"{what} not started: " + form.errors.as_text())
        return redirect("assist")
    try:
        run = create(**form.cleaned_data, created_by=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("assist")
    messages.success(request, f"{what} {run.pk} queued (job {run.job_id}).")
    return redirect("assist-judge-run", pk=run.pk)


@require_POST
@_manager
def judge_start(request: HttpRequest) -> HttpResponse:
    return _start(request, JudgeRunForm, judge_run_create, "Judge run")


@require_POST
@_manager
def prelabel_start(request: HttpRequest) -> HttpResponse:
    return _start(request, PrelabelForm, prelabel_run_create, "Pre-label run")


@_manager
def judge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(judge_runs_list(), pk=pk)
    agreement = run.agreement or {}
    context = {
        "run": run,
        "counts": run.counts or {},
        "agreement": agreement,
        "enough": int(agreement.get("n") or 0) >= run.min_agreement_n,
        "verdicts": verdicts_sample(run),
        "flagged": list(flagged_outputs(run)) if run.kind == JudgeRun.Kind.QUALITY else [],
    }
    return render(request, "assist/judge_detail.html", context)


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    run = get_object_or_404(JudgeRun, pk=pk)
    try:
        result = action(run)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(result=result))
    return redirect("assist-judge-run", pk=pk)


@require_POST
@_manager
def judge_approve(request: HttpRequest, pk: int) -> HttpResponse:
    note = request.POST.get("note", "")
    approve = lambda run: judge_run_approve(run=run, user=request.user, note=note)  # noqa: E731
    return _act(request, pk, approve, "Approved: the judge's labels may be used.")


@require_POST
@_manager
def judge_measure(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda run: judge_run_measure(run=run), "Agreement measured again.")


@require_POST
@_manager
def judge_publish(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda run: judge_pairs_publish(run=run),
        "AI-judge pairs written: {result[new]} new, {result[changed]} changed, "
        "{result[retired]} retired (source ai_judge).",
    )


@_manager
def campaign_ai(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    runs = list(judge_runs_list(campaign=campaign).filter(kind=JudgeRun.Kind.PAIRS))
    context = {"campaign": campaign, "human": campaign_human_rate(campaign), "runs": runs}
    return render(request, "assist/campaign.html", context)


@require_POST
@_manager
def augment_start(request: HttpRequest) -> HttpResponse:
    form = AugmentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Augmentation not started: " + form.errors.as_text())
        return redirect("assist")
    data = form.cleaned_data
    chosen = {"ids": data["prompt_ids"], "label": data["label"], "source": data["source"],
              "campaign": data["campaign"].pk if data["campaign"] else None}  # fmt: skip
    prompts = prompts_for_augmentation(
        label=data["label"],
        campaign=data["campaign"],
        source=data["source"],
        ids=data["prompt_ids"],
    )
    try:
        run = augmentation_run_create(
            prompts=prompts,
            method=data["method"],
            model_version=data["model"],
            per_prompt=data["per_prompt"],
            pivot_language=data["pivot_language"] or "French",
            prompt_filter=chosen,
            created_by=request.user,
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("assist")
    messages.success(request, f"Augmentation run {run.pk} queued (job {run.job_id}).")
    return redirect("assist-augmentation", pk=run.pk)


@_manager
def augment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(AugmentationRun.objects.select_related("model_version", "job"), pk=pk)
    chosen = [f"{key} {value}" for key, value in (run.prompt_filter or {}).items() if value]
    context = {"run": run, "records": list(augmentation_records(run)), "chosen": chosen}
    return render(request, "assist/augmentation_detail.html", context)
