"""A generation job run by a real `manage.py worker` process, killed with SIGKILL half way, then
recovered and finished by the next worker: every output exactly once, the campaign open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from evalhub.generation.testing_server import LoopbackOpenAIServer
from evalhub.models import Job, Output
from evalhub.services.generation import campaign_generate_enqueue
from tests.test_generation_service import make_campaign

ROOT = Path(__file__).resolve().parent.parent
N_PROMPTS = 60


def _worker_env(settings) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EVALHUB_GENERATION_CONCURRENCY": "2"}
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return env


@pytest.mark.django_db(transaction=True)
def test_generation_job_killed_half_way_finishes_without_duplicates(settings):
    with LoopbackOpenAIServer(models=["tiny-base", "tiny-warm"], latency_s=0.1) as server:
        campaign = make_campaign(server, n_prompts=N_PROMPTS, name="killed")
        job = campaign_generate_enqueue(campaign=campaign)
        outputs = Output.objects.filter(prompt__campaigns=campaign)
        env = _worker_env(settings)
        cmd = [sys.executable, "manage.py", "worker", "--interval", "0.2"]
        worker = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.time() + 90
            while time.time() < deadline and outputs.count() < 20:
                time.sleep(0.1)
            written = outputs.count()
            if not 20 <= written < 2 * N_PROMPTS:
                worker.kill()
                pytest.fail(
                    f"wanted the worker half way, found {written} outputs: "
                    + worker.communicate()[0].decode()[-3000:]
                )
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
        job.refresh_from_db()
        campaign.refresh_from_db()
        assert job.state == "running" and campaign.status == "generating"  # as the kill left them
        before_restart = outputs.count()
        time.sleep(0.5)  # let the server finish reading what the dead worker had already sent
        requests_before = server.chat_requests

        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
        batch = subprocess.run(
            [*cmd, "--batch"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        job.refresh_from_db()
        campaign.refresh_from_db()
        assert "recovered job" in batch.stderr, batch.stderr + batch.stdout
        assert job.state == "succeeded", (job.state, job.error, batch.stdout[-2000:])
        assert job.attempts == 2 and job.result["present_before"] == before_restart
        assert job.result["generated"] == 2 * N_PROMPTS - before_restart
        keys = Counter(outputs.values_list("prompt_id", "model_version_id", "sample_index"))
        assert len(keys) == 2 * N_PROMPTS and set(keys.values()) == {1}
        # The second worker asked only for what was missing. (At most the dead worker's 2
        # in-flight requests may still have been counted late by the server, under heavy load.)
        missing = 2 * N_PROMPTS - before_restart
        assert missing <= server.chat_requests - requests_before <= missing + 2
        assert campaign.status == "open" and campaign.comparisons.count() == N_PROMPTS


@pytest.mark.django_db(transaction=True)
def test_generate_wait_follows_the_job_a_worker_runs(settings):
    """The default flow from a shell: `generate CAMPAIGN --wait` queues the job and follows it
    while a separate `manage.py worker` runs it."""
    with LoopbackOpenAIServer(models=["tiny-base", "tiny-warm"]) as server:
        campaign = make_campaign(server, n_prompts=4, name="waited")
        env = _worker_env(settings)
        waiter = subprocess.Popen(
            [sys.executable, "manage.py", "generate", campaign.name, "--wait"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.time() + 60
            while time.time() < deadline and not Job.objects.exists():
                time.sleep(0.1)
            worker = subprocess.run(
                [sys.executable, "manage.py", "worker", "--batch"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            out, err = waiter.communicate(timeout=60)
        finally:
            if waiter.poll() is None:
                waiter.kill()
        job = Job.objects.get()
        assert waiter.returncode == 0, (out, err, worker.stdout, worker.stderr)
        assert f"queued job {job.pk}; waiting for a worker" in out
        assert f"job {job.pk} succeeded: generated 8, already present 0, failed 0" in out
        assert "campaign open: 4 comparisons" in out and "8/8" in err
        assert server.chat_requests == 8
