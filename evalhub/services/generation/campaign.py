"""Generating a campaign's missing outputs: queue the job, run it (see the package docstring)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from evalhub.models import Campaign, Job
from evalhub.selectors.jobs import campaign_outputs_missing, job_active_for_campaign
from evalhub.services.campaigns import campaign_open, campaign_set_status
from evalhub.services.errors import Conflict
from evalhub.services.generation.params import generation_params, refuse_imported
from evalhub.services.generation.run import (
    GenerationRun,
    GenerationSummary,
    Log,
    Progress,
    check_served,
)
from evalhub.services.jobs import job_create

TASK_PATH = "evalhub.generation_tasks.generate_campaign_task"


def campaign_generate_enqueue(
    *,
    campaign: Campaign,
    created_by: AbstractBaseUser | None = None,
    sample_index: int = 0,
    sampling: str = "shared",
    params_override: dict[str, Any] | None = None,
) -> Job:
    """Queue a background job that generates the campaign's missing outputs (one at a time)."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update()
            .select_related("baseline", "candidate")
            .get(pk=campaign.pk)
        )
        if campaign.status == Campaign.Status.CLOSED:
            raise Conflict(f"Campaign {campaign.name!r} is closed; reopen it to generate.")
        generation_params(
            campaign=campaign,
            sampling=sampling,
            params_override=params_override,
            sample_index=sample_index,
        )
        active = job_active_for_campaign(campaign=campaign, kind="generate")
        if active is not None:
            raise Conflict(
                f"Generation job {active.pk} for this campaign is already {active.state}.",
                code="job_active",
                details={"job_id": active.pk},
            )
        missing = campaign_outputs_missing(campaign=campaign, sample_index=sample_index)
        refuse_imported(campaign, missing)
        return job_create(
            kind="generate",
            title=f"Generate outputs for {campaign.name}",
            task_path=TASK_PATH,
            campaign=campaign,
            created_by=created_by,
            params={
                "campaign_id": campaign.pk,
                "sample_index": sample_index,
                "sampling": sampling,
                "params_override": dict(params_override or {}),
            },
        )


def campaign_generate(
    *,
    campaign: Campaign,
    progress: Progress | None = None,
    log: Log | None = None,
    sample_index: int = 0,
    params_override: dict[str, Any] | None = None,
    sampling: str = "shared",
    retry_passes: int = 1,
) -> GenerationSummary:
    """Generate the campaign's missing outputs for both sides; open it once they are complete.

    The campaign is "generating" while this runs, and back to draft if it stops incomplete
    (failures, a cancel, an error). Requests that fail are retried in ``retry_passes`` more
    passes; what still fails is in the summary. ``progress(done, total, message)`` may raise
    (a cancel): outputs received so far are written first, so a rerun resumes from there.
    """
    started = time.perf_counter()
    campaign = Campaign.objects.select_related("baseline", "candidate").get(pk=campaign.pk)
    if campaign.status == Campaign.Status.CLOSED:
        raise Conflict(f"Campaign {campaign.name!r} is closed; reopen it to generate.")
    params = generation_params(
        campaign=campaign,
        sampling=sampling,
        params_override=params_override,
        sample_index=sample_index,
    )
    work = campaign_outputs_missing(campaign=campaign, sample_index=sample_index)
    total = 2 * campaign.prompts.count()
    run = GenerationRun(
        campaign, sample_index, params, total, total - len(work), log or (lambda _: None)
    )
    report = progress or (lambda done, total, message: None)
    refuse_imported(campaign, work)
    report(run.present_before, total, f"{len(work)} outputs to generate")
    if work and campaign.status == Campaign.Status.DRAFT:
        campaign_set_status(campaign=campaign, status=Campaign.Status.GENERATING)
    try:
        if work:
            check_served(campaign, {side for _, side in work})
            run.log(f"generating {len(work)} outputs ({run.present_before} already present)")
            run.generate(work, report)
        first_pass_failures, passes = len(run.failures), 0
        while run.failures and passes < retry_passes:
            passes += 1
            retry = campaign_outputs_missing(campaign=campaign, sample_index=sample_index)
            run.log(f"retry pass {passes}: {len(retry)} outputs still missing")
            run.failures = []
            run.generate(retry, report)
    except BaseException:
        _back_to_draft(campaign)
        raise
    summary = GenerationSummary(
        campaign_id=campaign.pk,
        sample_index=sample_index,
        total=total,
        present_before=run.present_before,
        generated=run.generated,
        missing=len(campaign_outputs_missing(campaign=campaign, sample_index=sample_index)),
        failures=run.failures,
        first_pass_failures=first_pass_failures,
        retry_passes=passes,
        params=params,
    )
    if summary.complete and total and not _closed_meanwhile(campaign):
        opened = campaign_open(campaign=campaign)
        summary.opened, summary.comparisons = True, opened.comparisons_total
        run.log(f"complete: campaign open with {opened.comparisons_total} comparisons")
    elif not summary.complete:
        _back_to_draft(campaign)
        run.log(summary.failure_message())
    summary.seconds = round(time.perf_counter() - started, 3)
    report(
        total - summary.missing, total, f"{summary.generated} generated, {summary.missing} missing"
    )
    return summary


def _closed_meanwhile(campaign: Campaign) -> bool:
    """Someone closed the campaign while it generated: don't reopen it behind their back."""
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    return status == Campaign.Status.CLOSED


def _back_to_draft(campaign: Campaign) -> None:
    current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if current == Campaign.Status.GENERATING:
        campaign_set_status(campaign=campaign, status=Campaign.Status.DRAFT)
