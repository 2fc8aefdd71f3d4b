"""The rater's pages: open campaigns, the blind vote page, vote and skip (POST, then redirect).

Everything a rater sees comes from the blind selectors (``assignment_blind_payload``,
``campaigns_for_rater``); nothing here names a model, an output or a comparison. Service errors
become a rendered page with the service's status (GET) or a flash message and a redirect back
to the vote page (POST), so a double submit or an expired token never shows a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from evalhub.markdown import render_markdown
from evalhub.models import Campaign
from evalhub.roles import has_perm_cached
from evalhub.selectors.rating import (
    assignment_blind_payload,
    assignment_get_for_rater,
    campaigns_for_rater,
    rater_vote_count,
)
from evalhub.services.errors import NotFound, ServiceError
from evalhub.services.rating import (
    assignment_next,
    assignment_skip,
    assignments_sweep_if_due,
    vote_record,
)

RATE_PERMISSION = "evalhub.rate_campaign"

# What a rater reads when a vote or skip cannot be taken; keyed by the service's error code.
_VOTE_MESSAGES = {
    "unknown_token": "That comparison is not one of yours any more, so nothing was recorded.",
    "already_voted": "You already voted on that comparison; your first vote was kept.",
    "skipped": "You skipped that comparison, so no vote was recorded for it.",
    "expired": (
        "That comparison was open too long and expired, so your vote was not recorded. "
        "Here is a fresh one."
    ),
    "campaign_not_open": "This campaign is closed; your vote was not recorded.",
}
_SKIP_MESSAGES = {
    "unknown_token": "That comparison is not one of yours any more; nothing was skipped.",
    "voted": "You already voted on that comparison; your vote was kept.",
    "skipped": "That comparison was already skipped.",
    "expired": "That comparison had already expired. Here is a fresh one.",
}

View = Callable[..., HttpResponse]


def _error_page(
    request: HttpRequest, *, status: int, title: str, message: str, campaign_title: str = ""
) -> HttpResponse:
    context = {"title": title, "message": message, "campaign_title": campaign_title}
    return render(request, "evalhub/rate_error.html", context, status=status)


def rater_required(view: View) -> View:
    """Signed in (else the login page) and holding the rater permission (else a 403 page)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_perm_cached(request.user, RATE_PERMISSION):
            return _error_page(
                request,
                status=403,
                title="Rating is for raters",
                message="Your account does not have the rater role. Ask an admin to add it.",
            )
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _rating_campaign(campaign_id: int) -> Campaign | None:
    return Campaign.objects.filter(pk=campaign_id, kind=Campaign.Kind.PAIRWISE).first()


def _not_found(request: HttpRequest) -> HttpResponse:
    return _error_page(
        request,
        status=404,
        title="No such campaign",
        message="There is no rating campaign at this address.",
    )


def _vote_context(*, campaign: Campaign, assignment: Any, my_votes: int) -> dict[str, Any]:
    """The blind payload, with every piece of untrusted text as sanitized HTML."""
    payload = assignment_blind_payload(assignment=assignment)
    prompt = payload["prompt"]
    return {
        "campaign_id": campaign.pk,
        "campaign_title": campaign.display_title,
        "my_votes": my_votes,
        "token": payload["token"],
        "system_html": render_markdown(prompt["system"]) if prompt["system"] else "",
        "history_html": [
            (render_markdown(user), render_markdown(assistant))
            for user, assistant in prompt["history"]
        ],
        "instruction_html": prompt["instruction_html"],
        "input_html": prompt["input_html"],
        "left_html": payload["left"]["html"],
        "right_html": payload["right"]["html"],
        "guidelines_html": render_markdown(campaign.guidelines) if campaign.guidelines else "",
        "guidelines_open": my_votes == 0,  # open for a rater's first vote, folded after
    }


@require_GET
@rater_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    """The open campaigns this rater may rate, with their own progress."""
    assignments_sweep_if_due()  # abandoned reservations must not make a campaign look finished
    return render(
        request, "evalhub/rate_list.html", {"campaigns": campaigns_for_rater(rater=request.user)}
    )


@require_GET
@rater_required
def vote_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The next blind comparison (the same one again on reload), or the all-done page."""
    campaign = _rating_campaign(campaign_id)
    if campaign is None:
        return _not_found(request)
    title = campaign.display_title
    try:
        assignment = assignment_next(campaign=campaign, rater=request.user)
    except ServiceError as error:
        heading = {409: "This campaign is not open", 403: "Not your campaign"}.get(
            error.status_code, "Not available"
        )
        return _error_page(
            request,
            status=error.status_code,
            title=heading,
            message=error.message,
            campaign_title=title,
        )
    my_votes = rater_vote_count(campaign=campaign, rater=request.user)
    if assignment is None:
        return render(
            request, "evalhub/rate_done.html", {"campaign_title": title, "my_votes": my_votes}
        )
    # Re-read through the one door: a single query with the prompt and both answers joined.
    assignment = assignment_get_for_rater(rater=request.user, token=assignment.token)
    context = _vote_context(campaign=campaign, assignment=assignment, my_votes=my_votes)
    return render(request, "evalhub/rate_vote.html", context)


def _own_token_in(request: HttpRequest, campaign_id: int) -> str:
    """The posted token, if it is this rater's assignment in this campaign (else NotFound)."""
    token = request.POST.get("token", "")
    assignment = assignment_get_for_rater(rater=request.user, token=token)
    if assignment.comparison.campaign_id != campaign_id:
        raise NotFound("No such assignment in this campaign.", code="unknown_token")
    return token


@require_POST
@rater_required
def vote_submit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    try:
        vote_record(
            rater=request.user,
            token=_own_token_in(request, campaign_id),
            choice=request.POST.get("choice", ""),
            reason=request.POST.get("reason", ""),
        )
    except ServiceError as error:
        messages.error(request, _VOTE_MESSAGES.get(error.code, error.message))
    else:
        messages.success(request, "Vote recorded.")
    return redirect("rate-vote", campaign_id=campaign_id)


@require_POST
@rater_required
def skip_submit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    try:
        assignment_skip(rater=request.user, token=_own_token_in(request, campaign_id))
    except ServiceError as error:
        messages.error(request, _SKIP_MESSAGES.get(error.code, error.message))
    else:
        messages.info(request, "Skipped. You won't be shown that comparison again.")
    return redirect("rate-vote", campaign_id=campaign_id)
