"""Campaign generation for real over HTTP: model versions registered with backend "openai" point
at a loopback OpenAI-compatible server on 127.0.0.1, and campaign_generate / the generation job
produce, resume, retry and cancel for real (the server counts every request)."""

from __future__ import annotations

from collections import Counter

import pytest

from evalhub.generation.base import GenerationError
from evalhub.generation.testing_server import LoopbackOpenAIServer
from evalhub.generation_tasks import run_generation_job
from evalhub.models import Campaign, Job, ModelVersion, Output
from evalhub.services.campaigns import campaign_create
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.generation import (
    backends_close_all,
    campaign_generate,
    campaign_generate_enqueue,
    model_version_backend,
)
from evalhub.services.generation import run as generation_run
from evalhub.services.jobs import job_cancel, job_retry
from tests.factories import OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db

BASE_DEFAULTS = {"temperature": 0.5, "top_p": 0.9, "max_tokens": 64, "seed": 7}


@pytest.fixture(autouse=True)
def _fresh_backends(settings):
    settings.EVALHUB_GENERATION_CONCURRENCY = 4
    settings.EVALHUB_GENERATION_TIMEOUT = 10
    yield
    backends_close_all()


@pytest.fixture
def server():
    with LoopbackOpenAIServer(models=["tiny-base", "tiny-warm"]) as loopback:
        yield loopback


def make_campaign(
    server: LoopbackOpenAIServer, *, n_prompts: int = 5, name: str = "gen", **campaign_kwargs
) -> Campaign:
    """A draft campaign: a base and its LoRA adapter, both served by the loopback server."""
    base = ModelVersion.objects.create(
        name=f"{name}-base",
        backend="openai",
        endpoint=server.base_url,
        served_name="tiny-base",
        **BASE_DEFAULTS,
    )
    warm = ModelVersion.objects.create(
        name=f"{name}-warm",
        parent=base,
        method="lora",
        backend="openai",
        endpoint=server.base_url,
        served_name="tiny-warm",
        temperature=1.0,
        top_p=1.0,
        max_tokens=32,
    )
    prompts = [PromptFactory() for _ in range(n_prompts)]
    return campaign_create(
        name=f"{name} campaign",
        baseline=base,
        candidate=warm,
        prompts=prompts,
        **campaign_kwargs,
    )


def outputs_of(campaign: Campaign) -> list[Output]:
    return list(Output.objects.filter(prompt__campaigns=campaign).select_related("model_version"))


def assert_no_duplicates(campaign: Campaign) -> None:
    keys = Counter((o.prompt_id, o.model_version_id, o.sample_index) for o in outputs_of(campaign))
    assert max(keys.values(), default=1) == 1, keys


def test_generates_both_sides_with_the_same_params_and_opens(server):
    campaign = make_campaign(server, n_prompts=5)
    calls = []
    summary = campaign_generate(
        campaign=campaign, progress=lambda done, total, message: calls.append((done, total))
    )
    outputs = outputs_of(campaign)
    assert len(outputs) == 10 and server.chat_requests == 10
    assert {o.params_hash for o in outputs} == {outputs[0].params_hash}
    assert all(o.params == BASE_DEFAULTS for o in outputs)  # the baseline's, for both sides
    assert all(o.origin == "generated" and o.latency_ms > 0 for o in outputs)
    assert all(o.completion_tokens and o.prompt_tokens and o.finish_reason for o in outputs)
    sent = {(body["model"], body["temperature"], body["seed"]) for body in server.bodies}
    assert sent == {("tiny-base", 0.5, 7), ("tiny-warm", 0.5, 7)}
    by_prompt: dict[int, dict[str, str]] = {}
    for o in outputs:
        by_prompt.setdefault(o.prompt_id, {})[o.model_version.served_name] = o.text
    assert all(texts["tiny-base"] != texts["tiny-warm"] for texts in by_prompt.values())

    campaign.refresh_from_db()
    assert campaign.status == "open" and campaign.comparisons.count() == 5
    assert summary.complete and summary.opened and summary.comparisons == 5
    assert (summary.generated, summary.present_before, summary.failures) == (10, 0, [])
    assert calls[0] == (0, 10) and calls[-1] == (10, 10)


def test_sampling_own_and_overrides(server):
    campaign = make_campaign(server, n_prompts=2)
    campaign_generate(
        campaign=campaign, sampling="own", params_override={"max_tokens": 20}, sample_index=2
    )
    params = {o.model_version.name: o.params for o in outputs_of(campaign)}
    # The seed is the configured one plus the sample index (samples differ, reproducibly).
    assert params["gen-base"] == {"temperature": 0.5, "top_p": 0.9, "max_tokens": 20, "seed": 9}
    assert params["gen-warm"] == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 20, "seed": None}
    assert {o.sample_index for o in outputs_of(campaign)} == {2}
    with pytest.raises(InvalidInput, match="Unknown sampling parameters"):
        campaign_generate(campaign=campaign, params_override={"beam": 4})
    with pytest.raises(InvalidInput, match="top_p"):
        campaign_generate(campaign=campaign, params_override={"top_p": 0})


def test_resumes_generating_only_what_is_missing(server):
    campaign = make_campaign(server, n_prompts=6)
    prompts = list(campaign.prompts.order_by("id"))
    # Two answers already exist (imported): they count as present and are kept.
    for prompt in prompts[:2]:
        OutputFactory(prompt=prompt, model_version=campaign.baseline, origin="imported")
    server.configure_failures(fail_first=3, failure=400)
    first = campaign_generate(campaign=campaign, retry_passes=0)
    assert (first.generated, first.missing, len(first.failures)) == (7, 3, 3)
    assert server.chat_requests == 10  # 12 - 2 present
    campaign.refresh_from_db()
    assert campaign.status == "draft"  # back from "generating": incomplete

    server.reset_stats()
    second = campaign_generate(campaign=campaign)
    assert server.chat_requests == 3 and second.generated == 3 and second.present_before == 9
    assert second.complete
    assert len(outputs_of(campaign)) == 12
    assert_no_duplicates(campaign)
    assert Output.objects.filter(origin="imported").count() == 2
    server.reset_stats()
    third = campaign_generate(campaign=campaign)  # nothing left to do: no request at all
    assert server.chat_requests == 0 and third.generated == 0 and third.complete


def test_failed_requests_are_recorded_and_retried_in_a_second_pass(server):
    campaign = make_campaign(server, n_prompts=4)
    server.configure_failures(fail_first=3, failure=400)  # 400: the client does not retry it
    lines: list[str] = []
    summary = campaign_generate(campaign=campaign, log=lines.append)
    assert server.chat_requests == 8 + 3
    assert summary.complete and summary.first_pass_failures == 3 and summary.retry_passes == 1
    failed = [line for line in lines if line.startswith("failed:")]
    assert len(failed) == 3 and all("HTTP 400" in line for line in failed)
    assert any(line.startswith("retry pass 1: 3 outputs") for line in lines)
    assert len(outputs_of(campaign)) == 8


def test_job_failure_keeps_per_prompt_errors_and_retry_runs_only_the_missing(server):
    campaign = make_campaign(server, n_prompts=3, name="retry")
    server.configure_failures(fail_first=8, failure=400)  # 6 fail, then 2 fail again in pass 2
    job = campaign_generate_enqueue(campaign=campaign)
    run_generation_job(job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "2 of 6 outputs still missing" in job.error
    assert job.result["failed"] == 2 and job.result["generated"] == 4
    failure = job.result["failures"][0]
    assert failure["external_id"].startswith("q") and "HTTP 400" in failure["error"]
    assert "failed: prompt q" in job.log
    campaign.refresh_from_db()
    assert campaign.status == "draft"

    server.reset_stats()
    run_generation_job(job_retry(job=job).pk)
    job.refresh_from_db()
    assert job.state == "succeeded" and job.result["generated"] == 2, job.error
    assert server.chat_requests == 2 and len(outputs_of(campaign)) == 6
    campaign.refresh_from_db()
    assert campaign.status == "open" and campaign.comparisons.count() == 3


def test_cancel_stops_at_a_clean_point_and_retry_finishes(server, monkeypatch):
    monkeypatch.setattr(generation_run, "FLUSH_ROWS", 4)
    server.latency_s = 0.02
    campaign = make_campaign(server, n_prompts=20, name="cancel")
    job = campaign_generate_enqueue(campaign=campaign)
    seen = []

    def cancel_after_first_batch(done: int, total: int, message: str) -> None:
        seen.append(done)
        if done >= 4 and len(seen) == 2:
            job_cancel(job=job)  # someone presses Cancel; the next progress() stops the job

    run_generation_job(job.pk, on_progress=cancel_after_first_batch)
    job.refresh_from_db()
    campaign.refresh_from_db()
    written = len(outputs_of(campaign))
    assert job.state == "cancelled" and campaign.status == "draft"
    assert 4 <= written < 40 and job.progress_done == written
    assert server.chat_requests < 40  # pending requests were never sent

    run_generation_job(job_retry(job=job).pk)
    job.refresh_from_db()
    assert job.state == "succeeded" and job.result["present_before"] == written
    assert len(outputs_of(campaign)) == 40
    assert_no_duplicates(campaign)


def test_imported_models_cannot_generate(server):
    campaign = make_campaign(server, n_prompts=2, name="imp")
    ModelVersion.objects.filter(pk=campaign.baseline_id).update(backend="imported")
    campaign.refresh_from_db()
    with pytest.raises(InvalidInput, match="outputs of imported models must be imported"):
        campaign_generate_enqueue(campaign=campaign)
    with pytest.raises(InvalidInput, match="outputs of imported models must be imported"):
        campaign_generate(campaign=campaign)
    assert server.chat_requests == 0
    # Once the imported side's outputs are there, only the candidate is generated.
    for prompt in campaign.prompts.all():
        OutputFactory(prompt=prompt, model_version=campaign.baseline, origin="imported")
    summary = campaign_generate(campaign=campaign)
    assert summary.complete and summary.generated == 2 and server.chat_requests == 2


def test_a_model_the_endpoint_does_not_serve_fails_clearly(server):
    campaign = make_campaign(server, n_prompts=2, name="unserved")
    ModelVersion.objects.filter(pk=campaign.candidate_id).update(served_name="no-such-adapter")
    campaign.refresh_from_db()
    with pytest.raises(GenerationError, match=r"no-such-adapter.*not served"):
        campaign_generate(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "draft" and server.chat_requests == 0


def test_one_job_at_a_time_and_not_for_closed_campaigns(server):
    campaign = make_campaign(server, n_prompts=1, name="once")
    job = campaign_generate_enqueue(campaign=campaign)
    with pytest.raises(Conflict) as conflict:
        campaign_generate_enqueue(campaign=campaign)
    assert conflict.value.details == {"job_id": job.pk}
    job_cancel(job=job)
    Campaign.objects.filter(pk=campaign.pk).update(status="closed")
    with pytest.raises(Conflict, match="closed"):
        campaign_generate_enqueue(campaign=campaign)
    assert Job.objects.count() == 1


def test_backend_factory(tmp_path, settings):
    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapters" / "warm"
    base_dir.mkdir()
    adapter_dir.mkdir(parents=True)
    (adapter_dir / "adapter_config.json").write_text('{"r": 8}')
    base = ModelVersion.objects.create(name="local-base", backend="local", path=str(base_dir))
    warm = ModelVersion.objects.create(
        name="local-warm", backend="local", parent=base, method="lora", path=str(adapter_dir)
    )
    base_backend, base_model = model_version_backend(base)
    warm_backend, warm_model = model_version_backend(warm)
    assert warm_backend is base_backend  # one copy of the base in memory, the adapter on top
    assert (base_model, warm_model) == ("local-base", "local-warm")
    assert base_backend.list_models() == ["local-base", "local-warm"]
    assert model_version_backend(warm)[0].list_models() == ["local-base", "local-warm"]

    orphan = ModelVersion.objects.create(name="orphan", backend="local", path=str(adapter_dir))
    with pytest.raises(InvalidInput, match="set its parent"):
        model_version_backend(orphan)
    gone = ModelVersion.objects.create(name="gone", backend="local", path=str(tmp_path / "nope"))
    with pytest.raises(InvalidInput, match="not on this machine"):
        model_version_backend(gone)
    imported = ModelVersion.objects.create(name="imported", backend="imported")
    with pytest.raises(InvalidInput, match="must be imported"):
        model_version_backend(imported)

    a = ModelVersion.objects.create(name="a", backend="openai", endpoint="http://gpu:8000/v1")
    b = ModelVersion.objects.create(
        name="b", backend="openai", endpoint="http://gpu:8000/v1/", served_name="b-lora"
    )
    (backend_a, model_a), (backend_b, model_b) = model_version_backend(a), model_version_backend(b)
    assert backend_a is backend_b and (model_a, model_b) == ("a", "b-lora")
    assert backend_a.max_concurrency == 4 and backend_a.timeout_s == 10
