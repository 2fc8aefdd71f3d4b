"""Campaign pages for managers (roles pm and admin): every campaign with its state, and one
campaign with its outputs per side, the Generate button and its job's progress, Open / Close.

Support rates live on the PM dashboard (/dashboard/<id>/); these pages only run the campaign.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from evalhub.models import Campaign
from evalhub.selectors.jobs import (
    campaign_output_coverage,
    campaigns_for_managers,
    job_active_for_campaign,
    job_latest_for_campaign,
)
from evalhub.services.campaigns import campaign_close, campaign_open
from evalhub.services.errors import ServiceError
from evalhub.services.generation import campaign_generate_enqueue, generation_params
from evalhub.views.jobs import manager_required


def _campaign_or_404(pk: int) -> Campaign:
    campaign = Campaign.objects.select_related("baseline", "candidate").filter(pk=pk).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


@require_GET
@manager_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render(request, "evalhub/campaign_list.html", {"campaigns": campaigns_for_managers()})


@require_GET
@manager_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    try:
        params = generation_params(campaign=campaign)["baseline"]
    except ServiceError:
        params = None
    job = job_active_for_campaign(campaign=campaign) or job_latest_for_campaign(campaign=campaign)
    context = {
        "campaign": campaign,
        "coverage": campaign_output_coverage(campaign=campaign),
        "job": job,
        "params": params,
        "can_generate": campaign.status != Campaign.Status.CLOSED
        and not (job is not None and not job.is_finished),
    }
    return render(request, "evalhub/campaign_detail.html", context)


@require_POST
@manager_required
def campaign_generate_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    try:
        job = campaign_generate_enqueue(campaign=campaign, created_by=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Generation job {job.pk} queued: the missing outputs of both models."
        )
    return redirect("campaign-detail", pk=campaign.pk)


@require_POST
@manager_required
def campaign_open_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    try:
        result = campaign_open(campaign=campaign)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        text = (
            f"Open for rating: {result.comparisons_total} comparisons "
            f"({result.comparisons_created} new)."
        )
        if result.missing:
            text += f" {len(result.missing)} prompts still lack an output and are left out."
        messages.success(request, text)
    return redirect("campaign-detail", pk=campaign.pk)


@require_POST
@manager_required
def campaign_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    try:
        campaign_close(campaign=campaign)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Closed: raters are no longer served this campaign.")
    return redirect("campaign-detail", pk=campaign.pk)
