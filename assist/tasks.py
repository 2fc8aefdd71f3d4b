"""Background tasks of the assist app (thin: a job id in, one service call).

``run_judge_job`` / ``run_augmentation_job`` are the task bodies, shared with ``manage.py judge``
and ``manage.py augment --inline``, which run the same job in the foreground with a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_tasks import task

from assist.models import AugmentationRun, JudgeRun
from assist.services.augment import augmentation_run_execute
from assist.services.judge import judge_run_execute
from evalhub.generation.base import Backend
from evalhub.services.jobs import JobRun, job_execution

OnProgress = Callable[[int, int, str], None] | None


def _progress(run: JobRun, on_progress: OnProgress) -> Callable[[int, int, str], None]:
    def progress(done: int, total: int, message: str) -> None:
        if on_progress is not None:
            on_progress(done, total, message)
        run.progress(done, total, message)

    return progress


def run_judge_job(
    job_id: int, *, on_progress: OnProgress = None, backend: Backend | None = None
) -> JudgeRun | None:
    """Run judge job ``job_id`` here; None when it is not ours to run (taken, cancelled)."""
    with job_execution(job_id) as run:
        if run is None:
            return None
        judge_run = JudgeRun.objects.get(pk=run.job.params["judge_run_id"])
        judge_run = judge_run_execute(
            run=judge_run, progress=_progress(run, on_progress), log=run.log, backend=backend
        )
        run.job.result = {"judge_run_id": judge_run.pk, "counts": _plain(judge_run.counts)}
        return judge_run
    return None


def run_augmentation_job(
    job_id: int, *, on_progress: OnProgress = None, backend: Backend | None = None
) -> AugmentationRun | None:
    with job_execution(job_id) as run:
        if run is None:
            return None
        augmentation = AugmentationRun.objects.get(pk=run.job.params["augmentation_run_id"])
        augmentation = augmentation_run_execute(
            run=augmentation, progress=_progress(run, on_progress), log=run.log, backend=backend
        )
        run.job.result = {"augmentation_run_id": augmentation.pk, "counts": augmentation.counts}
        return augmentation
    return None


def _plain(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counts.items() if not isinstance(v, dict)}


@task()
def judge_run_task(job_id: int) -> None:
    """Run an AI judge over a campaign (``job.params``: judge_run_id)."""
    run_judge_job(job_id)


@task()
def augmentation_run_task(job_id: int) -> None:
    """Paraphrase / back-translate prompts (``job.params``: augmentation_run_id)."""
    run_augmentation_job(job_id)
