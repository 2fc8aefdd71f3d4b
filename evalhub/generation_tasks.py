"""Background tasks for generation (thin: a job id in, one service call).

``run_generation_job`` is the task's body, shared with ``manage.py generate --inline``, which runs
the same job in the foreground with its own progress bar.
"""

from __future__ import annotations

from collections.abc import Callable

from django_tasks import task

from evalhub.models import Campaign, Job
from evalhub.services.generation import GenerationSummary, campaign_generate
from evalhub.services.jobs import JobRun, job_execution


class GenerationIncomplete(Exception):
    """Some outputs could not be generated; the job fails with the reason (and can be retried)."""


def _store_result(run: JobRun, result: dict) -> None:
    # job_execution keeps ``run.job.result`` only when the job succeeds; a failed generation
    # job must keep its per-prompt failures too, so the result is written as soon as it exists.
    run.job.result = result
    Job.objects.filter(pk=run.job.pk).update(result=result)


def run_generation_job(
    job_id: int, *, on_progress: Callable[[int, int, str], None] | None = None
) -> GenerationSummary | None:
    """Run generation job ``job_id`` here; None when it is not ours to run (taken, cancelled)."""
    summary = None
    with job_execution(job_id) as run:
        if run is None:
            return None
        params = run.job.params
        campaign = Campaign.objects.filter(pk=params.get("campaign_id")).first()
        if campaign is None:
            raise Campaign.DoesNotExist(f"Campaign {params.get('campaign_id')} no longer exists.")

        def progress(done: int, total: int, message: str) -> None:
            if on_progress is not None:
                on_progress(done, total, message)
            run.progress(done, total, message)

        summary = campaign_generate(
            campaign=campaign,
            progress=progress,
            log=run.log,
            sample_index=int(params.get("sample_index", 0)),
            sampling=params.get("sampling", "shared"),
            params_override=params.get("params_override") or None,
        )
        _store_result(run, summary.as_dict())
        if not summary.complete:
            raise GenerationIncomplete(summary.failure_message())
    return summary


@task()
def generate_campaign_task(job_id: int) -> None:
    """Generate a campaign's missing outputs (``job.params``: campaign_id, sample_index,
    sampling, params_override)."""
    run_generation_job(job_id)
