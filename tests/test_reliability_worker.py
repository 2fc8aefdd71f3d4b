"""A worker killed during a job, then two workers starting at once to recover it: the job is run
again by exactly one of them, finishes, and every output exists once (SQLite and PostgreSQL).

tests/test_generation_worker.py covers one worker killed and one recovering; this adds the race
of recoverers and a second kill, of the recovering worker itself, before the job finishes.
"""

from __future__ import annotations

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
from tests.test_generation_worker import _worker_env

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.reliability
N_PROMPTS = 40
WORKER = [sys.executable, "manage.py", "worker", "--interval", "0.2"]


def _start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*WORKER, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _kill_when(worker: subprocess.Popen[bytes], outputs, at_least: int, timeout: float = 90) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline and outputs.count() < at_least:
        if worker.poll() is not None:
            break
        time.sleep(0.1)
    written = outputs.count()
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    if written < at_least:
        pytest.fail(
            f"the worker wrote {written} outputs: {worker.communicate()[0].decode()[-3000:]}"
        )
    return written


def _heartbeat_goes_stale(job: Job) -> None:
    """What 60 s without a heartbeat looks like, without waiting 60 s."""
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))


@pytest.mark.django_db(transaction=True)
def test_killed_twice_then_recovered_by_one_of_two_racing_workers(settings):
    with LoopbackOpenAIServer(models=["tiny-base", "tiny-warm"], latency_s=0.15) as server:
        campaign = make_campaign(server, n_prompts=N_PROMPTS, name="raced")
        job = campaign_generate_enqueue(campaign=campaign)
        job.max_attempts = 4
        job.save(update_fields=["max_attempts"])
        outputs = Output.objects.filter(prompt__campaigns=campaign)
        env = _worker_env(settings)

        first = _kill_when(_start_worker(env), outputs, at_least=10)
        _heartbeat_goes_stale(job)
        # The recovering worker is killed too, before it finishes.
        second = _kill_when(_start_worker(env), outputs, at_least=first + 10)
        job.refresh_from_db()
        assert job.state == "running" and job.attempts == 2
        _heartbeat_goes_stale(job)

        racers = [_start_worker(env, "--batch") for _ in range(2)]
        logs = [racer.communicate(timeout=240)[0].decode() for racer in racers]
        job.refresh_from_db()
        campaign.refresh_from_db()
        assert job.state == "succeeded", (job.error, logs)
        assert job.attempts == 3  # one run per worker: the two racers did not both take it
        assert sum("recovered job" in log for log in logs) == 1, logs
        keys = Counter(outputs.values_list("prompt_id", "model_version_id", "sample_index"))
        assert len(keys) == 2 * N_PROMPTS and set(keys.values()) == {1}
        assert job.result["present_before"] >= second >= first >= 10
        assert campaign.status == "open" and campaign.comparisons.count() == N_PROMPTS
