"""The one door for what raters see of n-way choices: the task's opaque token, the prompt and
the options (opaque key, position shown and text). No model, output or source ever leaves here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from evalhub.markdown import render_markdown
from evalhub.models import Campaign
from evalhub.roles import has_perm_cached
from evalhub.services.errors import NotFound
from feedback.models import ChoiceTask


@dataclass(frozen=True)
class ChoiceCampaignForRater:
    campaign_id: int
    title: str
    guidelines_html: str
    my_picks: int


def choice_campaigns_for_rater(*, rater: AbstractBaseUser) -> list[ChoiceCampaignForRater]:
    """Open choice campaigns this rater may work on, with their own pick count (one query)."""
    if not has_perm_cached(rater, "evalhub.rate_campaign"):
        return []
    pool = Campaign.raters.through.objects.filter(campaign_id=OuterRef("pk"))
    mine = Subquery(
        ChoiceTask.objects.filter(
            campaign_id=OuterRef("pk"), rater=rater, status=ChoiceTask.Status.PICKED
        )
        .order_by()
        .values("campaign_id")
        .annotate(n=Count("pk"))
        .values("n")[:1],
        output_field=IntegerField(),
    )
    campaigns = (
        Campaign.objects.filter(kind=Campaign.Kind.CHOICE, status=Campaign.Status.OPEN)
        .annotate(has_pool=Exists(pool), in_pool=Exists(pool.filter(user_id=rater.pk)))
        .filter(Q(has_pool=False) | Q(in_pool=True))
        .annotate(my_picks=Coalesce(mine, 0))
        .order_by("opened_at", "id")
    )
    return [
        ChoiceCampaignForRater(
            campaign_id=c.pk,
            title=c.display_title,
            guidelines_html=render_markdown(c.guidelines),
            my_picks=c.my_picks,
        )
        for c in campaigns
    ]


def choice_campaign_for_rater(*, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id, kind=Campaign.Kind.CHOICE).first()
    if campaign is None:
        raise NotFound("No such choice campaign.")
    return campaign


def choice_task_get_for_rater(*, rater: AbstractBaseUser, token: str) -> ChoiceTask:
    """The rater's own task by token; someone else's looks exactly like a missing one."""
    task = (
        ChoiceTask.objects.select_related("prompt", "campaign")
        .filter(token=token, rater=rater)
        .first()
        if token
        else None
    )
    if task is None:
        raise NotFound("No such choice for you.", code="unknown_token")
    return task


def choice_task_get_for_product(*, token: str) -> ChoiceTask:
    """A task created through the API (products never reach raters' tasks)."""
    task = (
        ChoiceTask.objects.select_related("prompt", "campaign")
        .filter(token=token, rater__isnull=True)
        .first()
        if token
        else None
    )
    if task is None:
        raise NotFound("No such choice task.", code="unknown_task")
    return task


def choice_prompt_payload(prompt: Any) -> dict[str, Any]:
    return {
        "system": prompt.system,
        "history": [[str(u), str(a)] for u, a in (prompt.history or [])],
        "instruction": prompt.instruction,
        "input": prompt.input,
        "instruction_html": render_markdown(prompt.instruction),
        "input_html": render_markdown(prompt.input) if prompt.input else "",
    }


def choice_task_blind_payload(*, task: ChoiceTask) -> dict[str, Any]:
    """What a rater or a product receives: token, prompt, options in the order shown."""
    options = task.options.select_related("output").order_by("position")
    return {
        "token": task.token,
        "status": task.status,
        "prompt": choice_prompt_payload(task.prompt),
        "options": [
            {
                "key": option.key,
                "position": option.position,
                "text": option.output.text,
                "html": render_markdown(option.output.text),
            }
            for option in options
        ],
    }
