"""Reads for background jobs and the generation they run (jobs pages, campaign page, API)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from evalhub.models import Campaign, Comparison, Job, Output, Vote
from evalhub.services.errors import NotFound

ACTIVE_STATES = (Job.State.QUEUED, Job.State.RUNNING)
PROMPT_FIELDS = ("id", "external_id", "system", "history", "instruction", "input")


def jobs_list(
    *,
    state: str | None = None,
    kind: str | None = None,
    campaign_id: int | None = None,
) -> QuerySet[Job]:
    """Jobs, newest first, with what a list shows joined in (no query per row)."""
    jobs = Job.objects.select_related("campaign", "created_by").defer("log", "result")
    if state:
        jobs = jobs.filter(state=state)
    if kind:
        jobs = jobs.filter(kind=kind)
    if campaign_id:
        jobs = jobs.filter(campaign_id=campaign_id)
    return jobs.order_by("-created_at", "-id")


def job_get(pk: int | str) -> Job:
    job = Job.objects.select_related("campaign", "created_by").filter(pk=pk).first()
    if job is None:
        raise NotFound(f"No job with id {pk}.")
    return job


def job_active_for_campaign(*, campaign: Campaign, kind: str = "generate") -> Job | None:
    """The campaign's queued or running job of that kind, if any."""
    return (
        Job.objects.filter(campaign=campaign, kind=kind, state__in=ACTIVE_STATES)
        .order_by("-created_at", "-id")
        .first()
    )


def job_latest_for_campaign(*, campaign: Campaign, kind: str = "generate") -> Job | None:
    return Job.objects.filter(campaign=campaign, kind=kind).order_by("-created_at", "-id").first()


def campaign_outputs_missing(
    *, campaign: Campaign, sample_index: int = 0
) -> list[tuple[dict[str, Any], str]]:
    """(prompt fields, side) for every prompt of the campaign that lacks an output of that side
    at ``sample_index`` (any parameters, any origin), in prompt order, baseline first."""
    sides = {campaign.baseline_id: "baseline", campaign.candidate_id: "candidate"}
    present = set(
        Output.objects.filter(
            prompt__campaigns=campaign, model_version_id__in=sides, sample_index=sample_index
        )
        .values_list("prompt_id", "model_version_id")
        .distinct()
    )
    missing = []
    for prompt in campaign.prompts.order_by("id").values(*PROMPT_FIELDS).iterator(2000):
        for version_id, side in sides.items():
            if (prompt["id"], version_id) not in present:
                missing.append((prompt, side))
    return missing


def campaign_output_coverage(*, campaign: Campaign) -> dict[str, int]:
    """Prompts, prompts with an answer from each side (any sample), comparisons and votes."""
    per_side = dict(
        Output.objects.filter(
            prompt__campaigns=campaign,
            model_version_id__in=[campaign.baseline_id, campaign.candidate_id],
        )
        .values("model_version_id")
        .annotate(prompts=Count("prompt_id", distinct=True))
        .values_list("model_version_id", "prompts")
    )
    return {
        "prompts": campaign.prompts.count(),
        "baseline": per_side.get(campaign.baseline_id, 0),
        "candidate": per_side.get(campaign.candidate_id, 0),
        "comparisons": Comparison.objects.filter(campaign=campaign).count(),
        "votes": Vote.objects.filter(campaign=campaign, supersedes__isnull=True).count(),
    }


def _count_of(queryset: QuerySet[Any], link: str) -> Coalesce:
    counted = (
        queryset.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def campaigns_for_managers() -> QuerySet[Campaign]:
    """Every campaign with its counts and latest generation job, in one query."""
    latest_job = Job.objects.filter(campaign=OuterRef("pk"), kind="generate").order_by(
        "-created_at", "-id"
    )
    return (
        Campaign.objects.select_related("baseline", "candidate")
        .annotate(
            n_prompts=_count_of(Campaign.prompts.through.objects.all(), "campaign_id"),
            n_comparisons=_count_of(Comparison.objects.all(), "campaign_id"),
            latest_job_id=Subquery(latest_job.values("pk")[:1]),
            latest_job_state=Subquery(latest_job.values("state")[:1]),
        )
        .order_by("-created_at", "-id")
    )
