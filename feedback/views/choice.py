"""The rater's n-way choice pages: open choice campaigns, one task (its options shuffled and
anonymous), pick and skip (POST, then redirect). Everything comes from the blind selectors."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from evalhub.markdown import render_markdown
from evalhub.services.errors import NotFound, ServiceError
from feedback.models import ChoiceTask
from feedback.selectors.choice import (
    choice_campaign_for_rater,
    choice_campaigns_for_rater,
    choice_task_blind_payload,
    choice_task_get_for_rater,
)
from feedback.services.choice import choice_pick, choice_skip, choice_task_next
from feedback.views.common import error_page, role_required

rater_required = role_required(
    "evalhub.rate_campaign",
    title="Choosing is for raters",
    message="Your account does not have the rater role. Ask an admin to add it.",
)
PICK_MESSAGES = {
    "already_picked": "You already made that choice; your first pick was kept.",
    "skipped": "You skipped that one, so no pick was recorded for it.",
    "unknown_token": "That choice is not one of yours any more, so nothing was recorded.",
    "campaign_not_open": "This campaign is closed; your pick was not recorded.",
}
HEADINGS = {403: "Not your campaign", 404: "No such campaign", 409: "This campaign is not open"}


@require_GET
@rater_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = choice_campaigns_for_rater(rater=request.user)
    return render(request, "feedback/choose_list.html", {"campaigns": campaigns})


@require_GET
@rater_required
def task_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The rater's next choice in this campaign (the same one on reload), or the all-done page."""
    try:
        campaign = choice_campaign_for_rater(campaign_id=campaign_id)
        task = choice_task_next(campaign=campaign, rater=request.user)
    except ServiceError as error:
        return error_page(
            request,
            status=error.status_code,
            title=HEADINGS.get(error.status_code, "Not available"),
            message=error.message,
            back_url=reverse("choose"),
            back_label="Back to your campaigns",
        )
    context = {"campaign_id": campaign.pk, "title": campaign.display_title}
    if task is None:
        return render(request, "feedback/choose_done.html", context)
    payload = choice_task_blind_payload(task=task)
    context.update(
        {
            "task": payload,
            "guidelines_html": render_markdown(campaign.guidelines) if campaign.guidelines else "",
        }
    )
    return render(request, "feedback/choose_task.html", context)


def _own_task(request: HttpRequest, campaign_id: int) -> ChoiceTask:
    task = choice_task_get_for_rater(rater=request.user, token=request.POST.get("token", ""))
    if task.campaign_id != campaign_id:
        raise NotFound("No such choice in this campaign.", code="unknown_token")
    return task


def _pick_ms(value: str) -> int | None:
    try:
        return max(0, int(float(value)))
    except ValueError:
        return None


@require_POST
@rater_required
def pick(request: HttpRequest, campaign_id: int) -> HttpResponse:
    choice = request.POST.get("option", "")
    try:
        choice_pick(
            task=_own_task(request, campaign_id),
            key="" if choice == "none" else choice,
            none_usable=choice == "none",
            time_to_pick_ms=_pick_ms(request.POST.get("pick_ms", "")),
        )
    except ServiceError as error:
        messages.error(request, PICK_MESSAGES.get(error.code, error.message))
    else:
        messages.success(request, "Choice recorded.")
    return redirect("choose-task", campaign_id=campaign_id)


@require_POST
@rater_required
def skip(request: HttpRequest, campaign_id: int) -> HttpResponse:
    try:
        choice_skip(task=_own_task(request, campaign_id))
    except ServiceError as error:
        messages.error(request, PICK_MESSAGES.get(error.code, error.message))
    else:
        messages.info(request, "Skipped. You won't be shown that one again.")
    return redirect("choose-task", campaign_id=campaign_id)
