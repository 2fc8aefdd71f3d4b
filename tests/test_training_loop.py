"""The loop closed end to end on the tiny model, on CPU: votes -> pairs -> dataset version ->
DPO run (a background job running training.ml as a subprocess) -> registered adapter ->
follow-up campaign with generated outputs. And the ways a run ends early: killed (no model,
resumable), cancelled, its worker dead."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from evalhub.generation import GenerationRequest, SamplingParams, build_messages
from evalhub.generation.corpus import load_demo_prompts
from evalhub.generation_tasks import run_generation_job
from evalhub.models import Campaign, Job, Label, ModelVersion, Output, Prompt
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.jobs import jobs_recover
from tests.test_training_helpers import add_votes
from training.models import DatasetItem, TrainingRun
from training.selectors.runs import can_resume, training_run_live
from training.services.datasets import dataset_version_freeze
from training.services.pairs import pairs_build
from training.services.runs import training_run_cancel, training_run_resume, training_run_start
from training.tasks import run_training_job

pytestmark = [
    pytest.mark.ml,
    pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="needs the ml extra"),
    pytest.mark.django_db(transaction=True),
]
N_PROMPTS = 40
FAST = {
    "learning_rate": 5e-3, "per_device_train_batch_size": 4, "max_length": 256,
    "loss_type": ["sigmoid", "sft"], "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    "num_threads": 1, "warmup_ratio": 0.0, "logging_steps": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory):
    from tests.training.tiny import tiny_models

    return tiny_models(tmp_path_factory.getbasetemp() / "tiny-demo-models")


@pytest.fixture
def loop(tiny_paths, settings, tmp_path):
    """Registered tiny base + warm adapter, a campaign between them with votes, and pairs."""
    settings.DATA_DIR = tmp_path / "var"
    base = ModelVersion.objects.create(
        name="tiny-base", backend="local", path=str(tiny_paths["base"]), temperature=0.0,
        max_tokens=40,
    )  # fmt: skip
    warm = ModelVersion.objects.create(
        name="tiny-warm", parent=base, backend="local", path=str(tiny_paths["adapter"]),
        method="lora", temperature=0.0, max_tokens=40,
    )  # fmt: skip
    prompts = []
    for demo in load_demo_prompts()[:N_PROMPTS]:
        prompt = Prompt.objects.create(
            instruction=demo.instruction, input=demo.input, system=demo.system,
            external_id=demo.external_id,
        )  # fmt: skip
        prompt.labels.set([Label.objects.get_or_create(name=demo.labels[0])[0]])
        Output.objects.create(prompt=prompt, model_version=base, text=demo.baseline_answer)
        Output.objects.create(prompt=prompt, model_version=warm, text=demo.better_answer)
        prompts.append(prompt)
    campaign = campaign_create(name="warm vs base", baseline=base, candidate=warm, prompts=prompts)
    campaign_open(campaign=campaign)
    add_votes(campaign, [["candidate", "candidate", "baseline"]] * N_PROMPTS)
    pairs_build(sources=["pairwise"])
    dataset = dataset_version_freeze(name="cs-prefs-v1", seed=1)
    return {"base": base, "warm": warm, "campaign": campaign, "dataset": dataset}


def test_votes_to_pairs_to_dataset_to_dpo_to_model_to_follow_up_campaign(loop, capsys):
    base, warm, dataset = loop["base"], loop["warm"], loop["dataset"]
    assert dataset.counts["pairs"]["total"] == N_PROMPTS
    test_prompts = set(
        DatasetItem.objects.filter(dataset=dataset, split="test").values_list(
            "prompt_id", flat=True
        )
    )
    assert 2 <= len(test_prompts) <= 8

    settings = [f"--set={key}={json.dumps(value)}" for key, value in FAST.items()]
    call_command(
        "train", "--dataset", dataset.name, "--from", base.name, "--method", "dpo", "--inline",
        "--set", "max_steps=16", *settings,
    )  # fmt: skip
    out = capsys.readouterr().out
    run = TrainingRun.objects.get()
    assert run.status == "succeeded", run.job.error
    assert "registered model version" in out and "follow-up campaign" in out

    # It learned: the loss fell, reward accuracy rose, the adapter's weights changed.
    first, last = run.metrics[0], run.metrics[-1]
    assert last["loss"] < first["loss"]
    assert first["reward_accuracy"] == 0.0
    assert sum(m["reward_accuracy"] for m in run.metrics[-4:]) / 4 > 0.7
    assert run.result["weight_change_norm"] > 0 and run.result["steps"] == 16
    live = training_run_live(run)
    assert (live["step"], live["total_steps"], live["status"]) == (16, 16, "succeeded")

    # The adapter is registered: parent = the base, local backend, method dpo.
    model = run.produced_model
    assert (model.parent, model.backend, model.method) == (base, "local", "dpo")
    assert model.path.endswith("/adapter") and os.path.isfile(f"{model.path}/adapter_config.json")

    # The follow-up campaign: the new version against the current best (the warm adapter won
    # its campaign), on the dataset's test prompts, with generation queued.
    campaign = run.follow_up_campaign
    assert (campaign.candidate, campaign.baseline) == (model, warm)
    assert set(campaign.prompts.values_list("pk", flat=True)) == test_prompts
    generation = Job.objects.get(kind="generate", campaign=campaign)
    run_generation_job(generation.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.OPEN
    assert campaign.comparisons.count() == len(test_prompts)
    new_outputs = Output.objects.filter(model_version=model, prompt_id__in=test_prompts)
    assert new_outputs.count() == len(test_prompts) and all(o.text for o in new_outputs)

    # The adapter loads in the local backend, and its answers differ from the starting model's.
    from evalhub.generation.local import LocalBackend

    backend = LocalBackend(base.path, base_name=base.name, adapters={model.name: model.path},
                           device="cpu", num_threads=1)  # fmt: skip
    greedy = SamplingParams(temperature=0.0, max_tokens=40)
    requests = []
    for prompt in Prompt.objects.filter(pk__in=test_prompts):
        messages = build_messages(prompt.system, (), prompt.instruction, prompt.input)
        for name in (base.name, model.name):
            requests.append(GenerationRequest(f"{prompt.pk}:{name}", messages, name, greedy))
    results = {r.request_id: r for r in backend.generate(requests)}
    assert all(r.ok for r in results.values())
    differ = [
        pid
        for pid in test_prompts
        if results[f"{pid}:{base.name}"].completions[0].text
        != results[f"{pid}:{model.name}"].completions[0].text
    ]
    assert differ, "the trained adapter answers exactly like the base"


def _run_in_thread(run: TrainingRun) -> threading.Thread:
    thread = threading.Thread(target=run_training_job, args=(run.job_id,), daemon=True)
    thread.start()
    return thread


def _wait_for(predicate, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def _child_pid(run: TrainingRun) -> int:
    def find():
        log = Job.objects.get(pk=run.job_id).log
        match = re.search(r"started training process (\d+)", log)
        return int(match.group(1)) if match else None

    return _wait_for(find)


def test_a_run_killed_mid_way_registers_nothing_and_a_new_run_resumes_it(loop):
    run = training_run_start(
        dataset=loop["dataset"], start_model=loop["base"], method="dpo",
        config={**FAST, "max_steps": 30, "save_steps": 2},
    )  # fmt: skip
    thread = _run_in_thread(run)
    pid = _child_pid(run)
    _wait_for(lambda: TrainingRun.objects.get(pk=run.pk).progress.get("last_checkpoint"))
    os.kill(pid, signal.SIGKILL)  # the training process dies mid-way
    thread.join(timeout=120)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "killed by signal 9" in run.job.error and "can be resumed" in run.job.error
    assert "checkpoint at step" in run.job.log
    assert run.produced_model is None and not ModelVersion.objects.filter(method="dpo").exists()
    assert can_resume(run) and training_run_live(run)["can_resume"]

    resumed = training_run_resume(run=run)
    assert resumed.resumed_from == run and resumed.config["resume_from_checkpoint"]
    run_training_job(resumed.job_id)
    resumed.refresh_from_db()
    assert resumed.status == "succeeded", resumed.job.error
    assert resumed.progress["resumed_from"].startswith(run.output_dir)
    assert resumed.metrics[0]["step"] > 2 and resumed.result["steps"] == 30
    assert resumed.produced_model.method == "dpo"


def test_cancel_stops_the_training_process(loop):
    run = training_run_start(
        dataset=loop["dataset"], start_model=loop["base"], method="dpo",
        config={**FAST, "max_steps": 500},
    )  # fmt: skip
    thread = _run_in_thread(run)
    pid = _child_pid(run)
    _wait_for(lambda: TrainingRun.objects.get(pk=run.pk).progress.get("step"))
    training_run_cancel(run=run)
    thread.join(timeout=60)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.produced_model is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_run_whose_worker_died_is_failed_with_its_log(loop):
    run = training_run_start(dataset=loop["dataset"], start_model=loop["base"], method="sft")
    stale = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=run.job_id).update(
        state="running", attempts=1, heartbeat_at=stale, log="step 3/10 ...\n"
    )
    jobs_recover()
    run.refresh_from_db()
    assert run.status == "failed" and "stopped answering" in run.job.error
    assert run.job.log.startswith("step 3/10") and not can_resume(run)
