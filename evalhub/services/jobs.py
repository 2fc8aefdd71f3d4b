"""Background jobs: create and enqueue, run with heartbeat / progress / cancel, recover orphans.

A task function (in any app) takes a job id and runs its service inside ``job_execution``::

    @task()
    def generate_campaign_task(job_id: int) -> None:
        with job_execution(job_id) as run:
            if run is not None:
                campaign_generate(campaign=..., progress=run.progress)

``run.progress(done, total, message)`` records progress and the heartbeat, and raises
``JobCancelled`` once someone asked to cancel, so the work stops at a clean point. Jobs must be
idempotent (resume, never redo): a job whose worker died is re-queued by ``jobs_recover`` until
``max_attempts``, then failed with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from evalhub.models import Campaign, Job
from evalhub.services.errors import Conflict

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
STALE_AFTER = timedelta(seconds=60)
LOG_LIMIT = 20_000


class JobCancelled(Exception):
    """Raised inside a job when a cancel was requested."""


class JobLeaseLost(Exception):
    """Raised inside a job whose claim was taken over (its heartbeat went stale and another
    worker re-ran it): this run stops without writing anything more."""


def _task(task_path: str) -> Any:
    return import_string(task_path)


def _enqueue(job: Job) -> None:
    task = _task(job.task_path)
    transaction.on_commit(lambda: task.enqueue(job.pk))


def job_create(
    *,
    kind: str,
    title: str,
    task_path: str,
    params: dict[str, Any] | None = None,
    campaign: Campaign | None = None,
    created_by: AbstractBaseUser | None = None,
    max_attempts: int = 3,
) -> Job:
    """Record a job and enqueue its task when the transaction commits."""
    _task(task_path)  # fail now, not in the worker, if the path is wrong
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            title=title[:300],
            task_path=task_path,
            params=params or {},
            campaign=campaign,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
            max_attempts=max_attempts,
        )
        _enqueue(job)
    return job


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one at its next step."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            raise Conflict(f"Job {job.pk} already {job.state}.")
        job.cancel_requested = True
        if job.state == Job.State.QUEUED:
            job.state = Job.State.CANCELLED
            job.finished_at = timezone.now()
        job.save(update_fields=["cancel_requested", "state", "finished_at"])
    return job


def job_retry(*, job: Job) -> Job:
    """Run a failed or cancelled job again; it resumes from what was already done."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state not in (Job.State.FAILED, Job.State.CANCELLED):
            raise Conflict(
                f"Only failed or cancelled jobs can be retried (job {job.pk} is {job.state})."
            )
        job.state = Job.State.QUEUED
        job.cancel_requested = False
        job.error = ""
        job.attempts = 0
        job.finished_at = None
        job.save(update_fields=["state", "cancel_requested", "error", "attempts", "finished_at"])
        _enqueue(job)
    return job


class JobRun:
    """Handed to the work inside ``job_execution``: progress, log, cancel checks."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.attempt = job.attempts  # the lease: writes only land while it is still ours
        self._lock = threading.Lock()

    def _mine(self) -> Any:
        return Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING, attempts=self.attempt)

    def _update(self, **fields: Any) -> None:
        with self._lock:
            if not self._mine().update(**fields):
                raise JobLeaseLost()

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        fields: dict[str, Any] = {"progress_done": done, "heartbeat_at": timezone.now()}
        if total is not None:
            fields["progress_total"] = total
        if message:
            fields["message"] = message[:300]
        self._update(**fields)
        self.check_cancelled()

    def log(self, line: str) -> None:
        current = self._mine().values_list("log", flat=True).first() or ""
        text = (current + line.rstrip("\n") + "\n")[-LOG_LIMIT:]
        self._update(log=text, heartbeat_at=timezone.now())

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()

    def heartbeat(self) -> None:
        self._update(heartbeat_at=timezone.now())


def _claim(job_id: int) -> Job | None:
    """Mark the job running for this worker, or None if it is not ours to run."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != Job.State.QUEUED:
            return None
        if job.cancel_requested:
            job.state, job.finished_at = Job.State.CANCELLED, now
            job.save(update_fields=["state", "finished_at"])
            return None
        job.state = Job.State.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.worker = f"{socket.gethostname()}:{os.getpid()}"[:100]
        job.save(update_fields=["state", "attempts", "started_at", "heartbeat_at", "worker"])
    return job


def _finish(
    job_id: int, attempt: int, state: str, *, error: str = "", result: dict[str, Any] | None = None
) -> None:
    fields: dict[str, Any] = {
        "state": state,
        "finished_at": timezone.now(),
        "heartbeat_at": timezone.now(),
    }
    if error:
        fields["error"] = error[:10_000]
    if result is not None:
        fields["result"] = result
    Job.objects.filter(pk=job_id, state=Job.State.RUNNING, attempts=attempt).update(**fields)


def _beat_until(stop: threading.Event, run: JobRun) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            run.heartbeat()
        except JobLeaseLost:
            return
        except Exception:  # a lost connection must not kill the job thread
            logger.exception("job heartbeat failed")
        finally:
            close_old_connections()


@contextlib.contextmanager
def job_execution(job_id: int) -> Iterator[JobRun | None]:
    """Claim the job, keep its heartbeat, and record how it ended. Yields None if not claimable."""
    job = _claim(job_id)
    if job is None:
        yield None
        return
    run = JobRun(job)
    stop = threading.Event()
    beat = threading.Thread(target=_beat_until, args=(stop, run), daemon=True)
    beat.start()
    try:
        yield run
    except JobLeaseLost:
        logger.warning("job %s: another worker took it over; this run stops", job_id)
    except (JobCancelled, KeyboardInterrupt) as exc:
        reason = (
            "Cancelled on request." if isinstance(exc, JobCancelled) else "Interrupted (Ctrl-C)."
        )
        _finish(
            job_id, run.attempt, Job.State.CANCELLED, error=reason, result=run.job.result or None
        )
        if isinstance(exc, KeyboardInterrupt):
            raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        # What was done so far (e.g. per-item failures) is kept: a retry resumes from it.
        _finish(job_id, run.attempt, Job.State.FAILED, error=error, result=run.job.result or None)
        logger.exception("job %s failed", job_id)
    else:
        _finish(job_id, run.attempt, Job.State.SUCCEEDED, result=run.job.result or None)
    finally:
        stop.set()


def jobs_recover(*, now: Any = None, stale_after: timedelta = STALE_AFTER) -> list[Job]:
    """Running jobs whose heartbeat went stale (their worker died): re-queue, or fail after
    ``max_attempts``. Called when a worker starts and periodically by it."""
    now = now or timezone.now()
    recovered = []
    with transaction.atomic():
        stale = Job.objects.select_for_update().filter(
            state=Job.State.RUNNING, heartbeat_at__lt=now - stale_after
        )
        for job in stale:
            if job.attempts >= job.max_attempts:
                job.state = Job.State.FAILED
                job.error = (
                    f"The worker running this job stopped answering (last heartbeat "
                    f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC) {job.attempts} times; giving up."
                )
                job.finished_at = now
                job.save(update_fields=["state", "error", "finished_at"])
            elif job.cancel_requested:
                job.state, job.finished_at = Job.State.CANCELLED, now
                job.save(update_fields=["state", "finished_at"])
            else:
                job.state = Job.State.QUEUED
                job.message = f"re-queued after its worker died (attempt {job.attempts})"
                job.save(update_fields=["state", "message"])
                _enqueue(job)
            recovered.append(job)
    return recovered


def job_set_result(*, run: JobRun, result: dict[str, Any]) -> None:
    run.job.result = result


ProgressCallback = Callable[[int, int | None, str], None]
