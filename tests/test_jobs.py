"""The job machinery: states, progress, failures, cancel, recovery of a dead worker's job,
and the real worker process draining the database queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from evalhub.models import Job
from evalhub.services.errors import Conflict
from evalhub.services.jobs import job_cancel, job_create, job_execution, job_retry, jobs_recover

ROOT = Path(__file__).resolve().parent.parent
TASK = "evalhub.tasks.evalhub_selftest_task"

pytestmark = pytest.mark.django_db


def _run(job: Job) -> Job:
    from evalhub.tasks import evalhub_selftest_task

    evalhub_selftest_task.call(job.pk)
    job.refresh_from_db()
    return job


def test_job_runs_to_success_with_progress():
    job = _run(job_create(kind="selftest", title="count", task_path=TASK, params={"steps": 4}))
    assert job.state == "succeeded"
    assert (job.progress_done, job.progress_total, job.percent) == (4, 4, 100.0)
    assert job.attempts == 1 and job.finished_at is not None and job.result == {"done": 4}


def test_failure_records_the_reason_and_retry_runs_again():
    job = _run(
        job_create(kind="selftest", title="x", task_path=TASK, params={"steps": 3, "fail_at": 1})
    )
    assert job.state == "failed"
    assert "asked to fail at step 1" in job.error and job.progress_done == 1
    Job.objects.filter(pk=job.pk).update(params={"steps": 3})
    job = _run(job_retry(job=job))
    assert job.state == "succeeded" and job.error == ""


def test_cancel_queued_and_running():
    queued = job_create(kind="selftest", title="q", task_path=TASK)
    assert job_cancel(job=queued).state == "cancelled"
    assert _run(queued).state == "cancelled"  # the task finds it cancelled and does nothing
    with pytest.raises(Conflict):
        job_cancel(job=queued)

    running = job_create(kind="selftest", title="r", task_path=TASK, params={"steps": 5})
    with job_execution(running.pk) as run:
        run.progress(1, 5)
        job_cancel(job=running)
        run.progress(2, 5)  # step 2 is done; the cancel takes effect here
        pytest.fail("progress() should have raised JobCancelled")  # pragma: no cover
    running.refresh_from_db()
    assert running.state == "cancelled" and running.progress_done == 2


def test_job_is_claimed_once():
    job = job_create(kind="selftest", title="once", task_path=TASK)
    with job_execution(job.pk) as first, job_execution(job.pk) as second:
        assert first is not None and second is None


def test_dead_worker_job_is_requeued_then_failed():
    job = job_create(kind="selftest", title="dead", task_path=TASK, max_attempts=2)
    stale = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(state="running", attempts=1, heartbeat_at=stale)
    assert [j.pk for j in jobs_recover()] == [job.pk]
    job.refresh_from_db()
    assert job.state == "queued"
    Job.objects.filter(pk=job.pk).update(state="running", attempts=2, heartbeat_at=stale)
    jobs_recover()
    job.refresh_from_db()
    assert job.state == "failed" and "stopped answering" in job.error
    fresh = job_create(kind="selftest", title="alive", task_path=TASK)
    Job.objects.filter(pk=fresh.pk).update(state="running", attempts=1, heartbeat_at=timezone.now())
    assert jobs_recover() == []


def test_unknown_task_path_fails_at_creation():
    with pytest.raises(ImportError):
        job_create(kind="x", title="x", task_path="evalhub.tasks.nope")
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_real_worker_process_drains_queue_and_survives_kill(tmp_path, settings):
    """A real `manage.py worker` runs queued jobs; one killed mid-job is recovered by the next."""
    db = settings.DATABASES["default"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    quick = job_create(kind="selftest", title="quick", task_path=TASK, params={"steps": 2})
    slow = job_create(
        kind="selftest", title="slow", task_path=TASK, params={"steps": 40, "sleep": 0.25}
    )
    cmd = [sys.executable, "manage.py", "worker", "--interval", "0.2"]
    worker = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            slow.refresh_from_db()
            if slow.state == "running" and slow.progress_done >= 2:
                break
            time.sleep(0.2)
        if slow.state != "running":
            worker.kill()
            pytest.fail(
                f"worker never ran the job ({slow.state}): {worker.communicate()[0].decode()[-3000:]}"
            )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    quick.refresh_from_db()
    assert quick.state == "succeeded"
    done_before = slow.progress_done
    Job.objects.filter(pk=slow.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    batch = subprocess.run(
        [*cmd, "--batch"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    slow.refresh_from_db()
    assert "recovered job" in batch.stderr, batch.stderr + batch.stdout
    assert slow.state == "succeeded", (slow.state, slow.error, batch.stdout[-2000:])
    assert slow.attempts == 2 and done_before >= 2
