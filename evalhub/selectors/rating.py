"""The one door for what raters see. Everything returned here is blind: no model names, no model
version ids, no output ids, no internal comparison ids; only the opaque assignment token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from evalhub.markdown import render_markdown
from evalhub.models import Assignment, Campaign, Comparison, Vote
from evalhub.models.campaigns import Side
from evalhub.roles import has_perm_cached
from evalhub.services.errors import NotFound


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
    has_work_for_me: bool  # an item this rater has not seen still needs votes


def _count(queryset: Any) -> Subquery:
    return Subquery(
        queryset.order_by().values("campaign_id").annotate(n=Count("pk")).values("n")[:1],
        output_field=IntegerField(),
    )


def campaigns_for_rater(*, rater: AbstractBaseUser) -> list[RaterCampaign]:
    """Open campaigns this rater may rate, with their own progress (never the running score).

    One query whatever the number of campaigns: counts and the rater's pool membership are
    subqueries of the campaign query.
    """
    if not has_perm_cached(rater, "evalhub.rate_campaign"):
        return []
    pool = Campaign.raters.through.objects.filter(campaign_id=OuterRef("pk"))
    counted_votes = Vote.objects.filter(
        campaign_id=OuterRef("pk"), kind=Vote.Kind.PAIRWISE, superseded_by__isnull=True
    )
    seen_by_me = Assignment.objects.filter(comparison_id=OuterRef("pk"), rater=rater)
    # Gold items and attention checks are served only beside real work, so they neither make
    # work for a rater nor need vote slots.
    open_for_me = Comparison.objects.filter(
        campaign_id=OuterRef("pk"), load__lt=OuterRef("votes_per_prompt"), is_gold=False
    ).exclude(Exists(seen_by_me))
    real_votes = counted_votes.filter(comparison__is_gold=False)
    campaigns = (
        Campaign.objects.filter(status=Campaign.Status.OPEN, kind=Campaign.Kind.PAIRWISE)
        .annotate(has_pool=Exists(pool), in_pool=Exists(pool.filter(user_id=rater.pk)))
        .filter(Q(has_pool=False) | Q(in_pool=True))
        .annotate(
            n_comparisons=Coalesce(
                _count(Comparison.objects.filter(campaign_id=OuterRef("pk"), is_gold=False)), 0
            ),
            n_votes=Coalesce(_count(real_votes), 0),
            my_votes=Coalesce(_count(counted_votes.filter(rater=rater)), 0),
            my_check_votes=Coalesce(
                _count(counted_votes.filter(rater=rater, comparison__is_gold=True)), 0
            ),
            has_work_for_me=Exists(open_for_me),
        )
        .order_by("opened_at", "id")
    )
    return [
        RaterCampaign(
            campaign=campaign,
            title=campaign.display_title,
            guidelines_html=render_markdown(campaign.guidelines),
            my_votes=campaign.my_votes,
            # Real vote slots still open, less this rater's own answers to checks: each of
            # their votes then lowers the count by one, so it never tells a check apart.
            remaining=max(
                0,
                campaign.n_comparisons * campaign.votes_per_prompt
                - campaign.n_votes
                - campaign.my_check_votes,
            ),
            has_work_for_me=campaign.has_work_for_me,
        )
        for campaign in campaigns
    ]


def rater_vote_count(*, campaign: Campaign, rater: AbstractBaseUser) -> int:
    """How many (current) votes this rater gave in this campaign."""
    return Vote.objects.filter(
        campaign=campaign, rater=rater, kind=Vote.Kind.PAIRWISE, superseded_by__isnull=True
    ).count()
