"""Background tasks of training (thin: a job id in, one service call)."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from evalhub.models import Campaign
from evalhub.services.jobs import job_execution, job_set_result
from training.models import DatasetVersion, TrainingRun
from training.services.datasets import dataset_filters, dataset_version_freeze
from training.services.exports import dataset_exports_write
from training.services.pairs import pairs_build
from training.services.runs import training_run_execute
from training.services.subprocess_follow import Progress


def run_training_job(job_id: int, *, on_progress: Progress | None = None) -> TrainingRun | None:
    """The training task's body, shared with ``manage.py train --inline``; None when the job
    is not ours to run (taken by a worker, cancelled)."""
    with job_execution(job_id) as run:
        if run is None:
            return None
        training_run = TrainingRun.objects.select_related(
            "dataset", "start_model", "base_model"
        ).get(pk=run.job.params["training_run_id"])
        training_run = training_run_execute(run=training_run, job_run=run, on_progress=on_progress)
        job_set_result(
            run=run,
            result={
                "training_run_id": training_run.pk,
                "produced_model_id": training_run.produced_model_id,
                "follow_up_campaign_id": training_run.follow_up_campaign_id,
            },
        )
    return TrainingRun.objects.get(pk=training_run.pk)


@task()
def training_run_task(job_id: int) -> None:
    """Run one training run (``job.params["training_run_id"]``) and register its adapter."""
    run_training_job(job_id)


@task()
def pairs_build_task(job_id: int) -> None:
    """Build pairs (``job.params``: sources, campaign_ids, include_simulated)."""
    with job_execution(job_id) as run:
        if run is not None:
            params = run.job.params
            build = pairs_build(
                sources=params.get("sources") or None,
                campaigns=Campaign.objects.filter(pk__in=params.get("campaign_ids") or []),
                include_simulated=bool(params.get("include_simulated")),
                created_by=run.job.created_by,
                progress=run.progress,
            )
            job_set_result(run=run, result={"pair_build_id": build.pk, "counts": build.counts})


@task()
def dataset_freeze_task(job_id: int) -> None:
    """Freeze a dataset version (``job.params``: name, filters, split, seed, threshold)."""
    with job_execution(job_id) as run:
        if run is not None:
            params = run.job.params
            filters = params.get("filters", {})
            existing = DatasetVersion.objects.filter(
                name=params["name"], created_at__gte=run.job.created_at
            ).first()
            if existing is not None:  # frozen by an earlier attempt of this job: finish it
                dataset_exports_write(dataset=existing)
                job_set_result(run=run, result={"dataset_id": existing.pk, "name": existing.name})
                return
            dataset = dataset_version_freeze(
                name=params["name"],
                filters=dataset_filters(
                    campaigns=Campaign.objects.filter(pk__in=filters.get("campaigns") or []),
                    sources=filters.get("sources") or (),
                    labels=filters.get("labels") or (),
                    since=_when(filters.get("since")),
                    until=_when(filters.get("until")),
                    min_strength=int(filters.get("min_strength", 1)),
                    min_agreement=float(filters.get("min_agreement", 0.0)),
                    include_examples=bool(filters.get("include_examples", True)),
                ),
                split_ratios=params.get("split"),
                seed=int(params.get("seed", 0)),
                near_duplicate_threshold=float(params.get("near_duplicate_threshold", 0.8)),
                description=params.get("description", ""),
                created_by=run.job.created_by,
                progress=run.progress,
            )
            job_set_result(run=run, result={"dataset_id": dataset.pk, "name": dataset.name})


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
