"""The generation commands as a user runs them: generate, vllm_args, build_demo_models."""

from __future__ import annotations

import importlib.util
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evalhub.generation.testing_server import LoopbackOpenAIServer
from evalhub.models import Campaign, Job, ModelVersion, Output, Prompt
from evalhub.services.campaigns import campaign_create
from evalhub.services.generation import backends_close_all
from tests.test_generation_service import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_backends(settings):
    settings.EVALHUB_GENERATION_CONCURRENCY = 4
    yield
    backends_close_all()


@pytest.fixture
def server():
    with LoopbackOpenAIServer(models=["tiny-base", "tiny-warm"]) as loopback:
        yield loopback


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_generate_inline_prints_progress_and_summary(server):
    campaign = make_campaign(server, n_prompts=4, name="cli")
    out, err = run("generate", campaign.name, "--inline")
    assert "generated 8, already present 0, failed 0, missing 0 of 8" in out
    assert "campaign open: 4 comparisons" in out
    assert "8/8" in err  # the tqdm bar, on stderr
    job = Job.objects.get()
    assert job.state == "succeeded" and job.kind == "generate" and job.campaign == campaign
    campaign.refresh_from_db()
    assert campaign.status == "open" and server.chat_requests == 8

    out, _ = run("generate", str(campaign.pk), "--inline")  # by id; nothing left to do
    assert "generated 0, already present 8" in out and server.chat_requests == 8


def test_generate_inline_failure_is_a_clear_error(server):
    campaign = make_campaign(server, n_prompts=2, name="cli-fail")
    server.configure_failures(fail_first=100, failure=400)
    with pytest.raises(CommandError, match=r"job \d+ failed: GenerationIncomplete: 4 of 4"):
        run("generate", campaign.name, "--inline")
    assert Output.objects.count() == 0


def test_generate_queues_a_job_by_default(server):
    campaign = make_campaign(server, n_prompts=2, name="cli-queue")
    out, _ = run("generate", campaign.name, "--sampling", "own", "--max-tokens", "12")
    job = Job.objects.get()
    assert f"queued job {job.pk}" in out and f"/jobs/{job.pk}/" in out
    assert job.state == "queued"
    assert job.params == {
        "campaign_id": campaign.pk,
        "sample_index": 0,
        "sampling": "own",
        "params_override": {"max_tokens": 12},
    }
    with pytest.raises(CommandError, match="already queued"):
        run("generate", campaign.name)


def test_generate_errors(server):
    with pytest.raises(CommandError, match="No campaign with id or name 'nope'"):
        run("generate", "nope")
    campaign = make_campaign(server, n_prompts=1, name="cli-imported")
    ModelVersion.objects.filter(pk=campaign.candidate_id).update(backend="imported")
    with pytest.raises(CommandError, match="outputs of imported models must be imported"):
        run("generate", campaign.name, "--inline")
    assert Job.objects.count() == 0


def _adapter(path, **config):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps(config))
    return str(path)


def test_vllm_args_for_a_base_with_two_adapters(tmp_path):
    base = ModelVersion.objects.create(
        name="qwen-7b", backend="openai", endpoint="http://gpu:8000/v1", path="/srv/models/qwen-7b"
    )
    ModelVersion.objects.create(
        name="qwen-7b-support-dpo",
        parent=base,
        method="dpo",
        served_name="support-dpo",
        path=_adapter(
            tmp_path / "adapters" / "dpo",
            r=32,
            target_modules=["q_proj", "v_proj"],
            base_model_name_or_path="/srv/models/qwen-7b",
        ),
    )
    ModelVersion.objects.create(
        name="qwen-7b-warm",
        parent=base,
        method="lora",
        path=_adapter(
            tmp_path / "adapters" / "warm",
            r=8,
            target_modules=["q_proj"],
            modules_to_save=["lm_head"],
            base_model_name_or_path="/srv/models/qwen-7b",
        ),
    )
    ModelVersion.objects.create(name="qwen-7b-merged-sft", parent=base, method="sft", path="/x")

    out, err = run("vllm_args", "qwen-7b", "--map-path", f"{tmp_path}=/models")
    assert out.splitlines()[0] == "vllm serve /srv/models/qwen-7b \\"
    assert "--served-model-name qwen-7b" in out and "--enable-lora" in out
    assert (
        "--lora-modules support-dpo=/models/adapters/dpo qwen-7b-warm=/models/adapters/warm" in out
    )
    assert "--max-lora-rank 32" in out and "--max-loras 2" in out
    assert "qwen-7b-warm: modules_to_save=['lm_head']" in err
    assert "qwen-7b-merged-sft: not a LoRA adapter" in err

    out, _ = run("vllm_args", "qwen-7b", "--format", "json", "--tensor-parallel-size", "4")
    plan = json.loads(out)
    assert plan["max_lora_rank"] == 32 and set(plan["lora_modules"]) == {
        "support-dpo",
        "qwen-7b-warm",
    }
    assert plan["argv"][-2:] == ["--tensor-parallel-size", "4"]
    out, _ = run("vllm_args", "qwen-7b", "--format", "args")
    assert out.startswith("/srv/models/qwen-7b --served-model-name qwen-7b --enable-lora")

    ModelVersion.objects.create(name="huge", parent=base, path=_adapter(tmp_path / "huge", r=1024))
    with pytest.raises(CommandError, match="rank 1024"):
        run("vllm_args", "qwen-7b")
    with pytest.raises(CommandError, match="No model version named 'nope'"):
        run("vllm_args", "nope")


needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="needs the ml extra"
)
# The smallest build the builder allows that still trains both parts (seconds, rough text).
TINY_BUILD = [
    "--set=base_steps=4",
    "--set=adapter_steps=8",
    "--set=batch_size=8",
    "--set=vocab_size=400",
    "--set=hidden_size=64",
    "--set=intermediate_size=128",
]


@pytest.mark.ml
@needs_torch
def test_build_demo_models_registers_both_and_local_generation_differs(tmp_path):
    from evalhub.generation.corpus import load_demo_prompts

    out, err = run("build_demo_models", "--out", str(tmp_path / "demo"), *TINY_BUILD)
    assert "base" in err  # the per-stage progress bars
    assert "tokenizer: done in" in out and "adapter: done in" in out and "built in" in out
    base = ModelVersion.objects.get(method="base")
    adapter = ModelVersion.objects.get(method="lora")
    assert adapter.parent == base and base.backend == adapter.backend == "local"
    assert base.path == str((tmp_path / "demo" / "base").resolve())
    assert (tmp_path / "demo" / adapter.path.split("/demo/")[1] / "adapter_config.json").is_file()

    out, _ = run("build_demo_models", "--out", str(tmp_path / "demo"))  # already there
    assert "nothing to do" in out and ModelVersion.objects.count() == 2

    prompts = [
        Prompt.objects.create(
            instruction=p.instruction, input=p.input, system=p.system, external_id=p.external_id
        )
        for p in load_demo_prompts()[:4]
    ]
    campaign = campaign_create(
        name="demo", baseline=base, candidate=adapter, prompts=prompts, votes_per_prompt=1
    )
    out, _ = run("generate", "demo", "--inline", "--max-tokens", "24")
    assert "generated 8" in out
    texts = {
        (o.prompt_id, o.model_version_id): o.text for o in Output.objects.filter(origin="generated")
    }
    assert all(texts[p.pk, base.pk] != texts[p.pk, adapter.pk] for p in prompts)
    assert Campaign.objects.get(pk=campaign.pk).status == "open"


def test_ctrl_c_during_inline_generation_cancels_the_job(server, monkeypatch):
    from evalhub.management.commands import generate as command

    real = command.run_generation_job

    def interrupted(job_id, *, on_progress):
        def press_ctrl_c(done, total, message):
            if done >= 2:
                raise KeyboardInterrupt
            on_progress(done, total, message)

        return real(job_id, on_progress=press_ctrl_c)

    monkeypatch.setattr(command, "run_generation_job", interrupted)
    monkeypatch.setattr("evalhub.services.generation.run.FLUSH_ROWS", 2)
    campaign = make_campaign(server, n_prompts=4, name="cli-ctrl-c")
    with pytest.raises(CommandError, match=r"interrupted; job \d+ cancelled"):
        run("generate", campaign.name, "--inline")
    job = Job.objects.get()
    campaign.refresh_from_db()
    assert job.state == "cancelled" and "Interrupted" in job.error
    assert campaign.status == "draft" and Output.objects.count() >= 2
    monkeypatch.undo()
    out, _ = run("generate", campaign.name, "--inline")  # resumes: nothing twice
    assert "failed 0, missing 0 of 8" in out and Output.objects.count() == 8
