"""The one door for what raters see. Everything returned here is blind: no model names, no model
version ids, no output ids, no internal comparison ids; only the opaque assignment token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, OuterRef, Q

from evalhub.markdown import render_markdown
from evalhub.models import Assignment, Campaign, Vote
from evalhub.models.campaigns import Side
from evalhub.services.errors import NotFound
from evalhub.services.rating import rater_can_rate


def campaign_get_for_rating(*, campaign_id: int, rater: AbstractBaseUser) -> Campaign:
    """The campaign with its rater-pool facts annotated (one query for the hot path)."""
    pool = Campaign.raters.through.objects.filter(campaign_id=OuterRef("pk"))
    campaign = (
        Campaign.objects.annotate(
            has_pool=Exists(pool), in_pool=Exists(pool.filter(user_id=rater.pk))
        )
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


def assignment_get_for_rater(*, rater: AbstractBaseUser, token: str) -> Assignment:
    """The rater's own assignment by token; someone else's looks exactly like a missing one."""
    assignment = (
        Assignment.objects.select_related(
            "comparison__prompt",
            "comparison__campaign",
            "comparison__baseline_output",
            "comparison__candidate_output",
        )
        .filter(token=token, rater=rater)
        .first()
        if token
        else None
    )
    if assignment is None:
        raise NotFound(
            "No such assignment for you (unknown token, or not yours).", code="unknown_token"
        )
    return assignment


def _prompt_payload(prompt: Any) -> dict[str, Any]:
    return {
        "system": prompt.system,
        "history": [[str(u), str(a)] for u, a in (prompt.history or [])],
        "instruction": prompt.instruction,
        "input": prompt.input,
        "instruction_html": render_markdown(prompt.instruction),
        "input_html": render_markdown(prompt.input) if prompt.input else "",
    }


def assignment_blind_payload(*, assignment: Assignment) -> dict[str, Any]:
    """What a rater receives: token, prompt, left and right answers (text and sanitized HTML)."""
    comparison = assignment.comparison
    candidate, baseline = comparison.candidate_output.text, comparison.baseline_output.text
    left, right = (
        (candidate, baseline) if assignment.candidate_side == Side.LEFT else (baseline, candidate)
    )
    return {
        "token": assignment.token,
        "prompt": _prompt_payload(comparison.prompt),
        "left": {"text": left, "html": render_markdown(left)},
        "right": {"text": right, "html": render_markdown(right)},
        "expires_at": assignment.expires_at,
    }


@dataclass(frozen=True)
class RaterCampaign:
    campaign: Campaign
    title: str
    guidelines_html: str
    my_votes: int
    remaining: int  # vote slots still open in the campaign (all raters)


def campaigns_for_rater(*, rater: AbstractBaseUser) -> list[RaterCampaign]:
    """Open campaigns this rater may rate, with their own progress (never the running score)."""
    if not rater.has_perm("evalhub.rate_campaign"):
        return []
    campaigns = (
        Campaign.objects.filter(status=Campaign.Status.OPEN, kind=Campaign.Kind.PAIRWISE)
        .filter(Q(raters=None) | Q(raters=rater))
        .distinct()
        .annotate(n_comparisons=Count("comparisons", distinct=True))
        .order_by("opened_at", "id")
    )
    my_votes = dict(
        Vote.objects.filter(rater=rater, kind=Vote.Kind.PAIRWISE, supersedes__isnull=True)
        .values_list("campaign_id")
        .annotate(n=Count("id"))
    )
    result = []
    for campaign in campaigns:
        if not rater_can_rate(rater=rater, campaign=campaign):
            continue
        total_slots = campaign.n_comparisons * campaign.votes_per_prompt
        done = campaign.votes.filter(kind=Vote.Kind.PAIRWISE, supersedes__isnull=True).count()
        result.append(
            RaterCampaign(
                campaign=campaign,
                title=campaign.display_title,
                guidelines_html=render_markdown(campaign.guidelines),
                my_votes=my_votes.get(campaign.id, 0),
                remaining=max(0, total_slots - done),
            )
        )
    return result
