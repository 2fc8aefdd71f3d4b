"""Judge and augmentation runs queued through the API path end to end: enqueued on commit, run by
a real ``manage.py worker --batch`` process against the loopback OpenAI-compatible server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assist.models import AugmentationRun, JudgeRun
from assist.services.augment import augmentation_run_create
from assist.services.judge import judge_run_create
from evalhub.models import Prompt
from tests.factories import ModelVersionFactory
from tests.test_assist_helpers import ScriptedLoopbackServer, judge_responder, judged_campaign
from tests.test_generation_worker import ROOT, _worker_env

JUDGE = "judge-worker"


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_queued_judge_and_augmentation_jobs(settings):
    campaign = judged_campaign(8, name="worker")
    with ScriptedLoopbackServer([JUDGE], judge_responder()) as server:
        judge = ModelVersionFactory(name=JUDGE, backend="openai", endpoint=server.base_url,
                                    served_name=JUDGE)  # fmt: skip
        run = judge_run_create(campaign=campaign, judge=judge)
        augmentation = augmentation_run_create(
            prompts=Prompt.objects.filter(campaigns=campaign)[:4], method="paraphrase",
            model_version=judge,
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, "manage.py", "worker", "--batch", "--interval", "0.2"],
            cwd=ROOT, env=_worker_env(settings), capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert server.chat_requests == 16 + 4
    run = JudgeRun.objects.get(pk=run.pk)
    augmentation = AugmentationRun.objects.get(pk=augmentation.pk)
    assert run.status == "succeeded", done.stdout[-2000:] + done.stderr[-2000:]
    assert run.job.state == "succeeded" and run.counts["judged"] == 8
    assert run.job.result["judge_run_id"] == run.pk
    assert augmentation.status == "succeeded" and augmentation.counts["kept"] == 4
