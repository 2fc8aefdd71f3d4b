"""Training pages and API: who may see and do what, forms that queue jobs, dataset downloads,
run pages with live state, lineage pages, memory estimates; query counts on the lists."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from evalhub.models import Job, ModelVersion
from tests.test_training_helpers import add_votes, campaign_with_texts
from training.models import DatasetVersion, TrainingRun
from training.services.datasets import dataset_version_freeze
from training.services.pairs import pairs_build
from training.services.runs import training_run_start

pytestmark = pytest.mark.django_db
TEXTS = [(f"Question {i} about my order {i * 7}?", f"No {i}.", f"Happy to help with {i}!")
         for i in range(20)]  # fmt: skip


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "var"


@pytest.fixture
def admin_client(make_user):
    client = Client()
    client.force_login(make_user("ml-admin", "admin"))
    return client


@pytest.fixture
def pm_client(make_user):
    client = Client()
    client.force_login(make_user("pm-reader", "pm"))
    return client


@pytest.fixture
def dataset(tmp_path):
    campaign = campaign_with_texts("pg", TEXTS, labels=["refund", "shipping"] * 10)
    add_votes(campaign, [["candidate", "candidate"]] * len(TEXTS))
    pairs_build(sources=["pairwise"])
    return dataset_version_freeze(name="pages-v1")


@pytest.fixture
def local_base(tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    config = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "vocab_size": 500, "intermediate_size": 128}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return ModelVersion.objects.create(name="local-base", backend="local", path=str(folder))


def test_roles_see_and_do_what_they_may(client, pm_client, admin_client, make_user):
    assert client.get("/training/").status_code == 302  # login first
    rater = Client()
    rater.force_login(make_user("r", "rater"))
    assert rater.get("/training/").status_code == 403
    page = pm_client.get("/training/")
    assert page.status_code == 200 and b"New training run" not in page.content
    assert pm_client.post("/training/pairs/build").status_code == 403
    assert pm_client.get("/training/runs/new").status_code == 403
    page = admin_client.get("/training/")
    assert b"New training run" in page.content and b"Build pairs" in page.content
    nav = pm_client.get("/").content.decode()
    assert 'href="/training/"' in nav


def test_overview_and_dataset_pages(admin_client, dataset, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        page = admin_client.get("/training/")
    assert b"pages-v1" in page.content
    page = admin_client.get(f"/training/datasets/{dataset.pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Pairs per label" in text and "refund" in text and "exact duplicate pairs" in text
    download = admin_client.get(f"/training/datasets/{dataset.pk}/download/trl/train")
    rows = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    assert len(rows) == dataset.counts["pairs"]["train"]
    assert "attachment" in download["Content-Disposition"]
    assert (
        admin_client.get(f"/training/datasets/{dataset.pk}/download/csv/train").status_code == 404
    )


def test_forms_queue_pair_builds_and_freezes(admin_client, dataset):
    response = admin_client.post("/training/pairs/build", {"sources": ["pairwise"]})
    assert response.status_code == 302
    job = Job.objects.get(kind="pairs")
    assert job.params["sources"] == ["pairwise"]
    form = {"name": "v2", "split": "75/15/10", "min_strength": 1, "min_agreement": 0,
            "seed": 1, "near_duplicate_threshold": 0.8, "include_examples": "on"}  # fmt: skip
    assert admin_client.post("/training/datasets/freeze", form).status_code == 302
    freeze = Job.objects.get(kind="dataset")
    assert freeze.params["split"] == {"train": 0.75, "val": 0.15, "test": 0.1}
    from training.tasks import dataset_freeze_task, pairs_build_task

    pairs_build_task.call(job.pk)
    dataset_freeze_task.call(freeze.pk)
    assert Job.objects.get(pk=freeze.pk).state == "succeeded"
    assert DatasetVersion.objects.get(name="v2").split_ratios["test"] == 0.1
    bad = admin_client.post("/training/datasets/freeze", {**form, "name": "v3", "split": "90/5/5"})
    assert bad.status_code == 200 and b"outside" in bad.content


def test_run_form_starts_a_run_and_shows_the_memory_estimate(admin_client, dataset, local_base):
    page = admin_client.get(f"/training/runs/new?start_model={local_base.pk}")
    assert page.status_code == 200 and b"Memory needed" in page.content and b"qlora" in page.content
    form = {"dataset": dataset.pk, "start_model": local_base.pk, "method": "dpo",
            "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "max_length": 128,
            "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0, "learning_rate": "0.001",
            "loss_type": "sigmoid,sft", "extra": '{"max_steps": 3}'}  # fmt: skip
    response = admin_client.post("/training/runs/new", form)
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/training/runs/{run.pk}/"
    assert run.config["loss_type"] == ["sigmoid", "sft"] and run.config["max_steps"] == 3
    assert run.config["lora"] == {"r": 4, "alpha": 8, "dropout": 0.0}
    assert run.job.kind == "train" and run.job.max_attempts == 1
    bad = admin_client.post("/training/runs/new", {**form, "extra": '{"nope": 1}'})
    assert bad.status_code == 200 and b"Unknown dpo setting" in bad.content

    page = admin_client.get(f"/training/runs/{run.pk}/")
    assert page.status_code == 200 and b"data-run-live" in page.content
    live = admin_client.get(f"/training/runs/{run.pk}/live").json()
    assert live["status"] == "queued" and live["can_resume"] is False
    memory = admin_client.get(f"/training/memory?model={local_base.pk}&batch_size=2").json()
    assert [row["mode"] for row in memory["estimates"]] == ["full", "lora", "qlora"]
    cancel = admin_client.post(f"/training/runs/{run.pk}/cancel")
    assert cancel.status_code == 302 and TrainingRun.objects.get().status == "cancelled"
    page = admin_client.get(f"/training/models/{local_base.pk}/")
    assert page.status_code == 200 and run.name.encode() in page.content


def test_api_pairs_datasets_runs(dataset, local_base, make_user, api_client):
    api_client.force_authenticate(make_user("api-admin", "admin"))
    pairs = api_client.get("/api/v1/training/pairs?source=pairwise").json()
    assert pairs["count"] == 20 and pairs["results"][0]["source"] == "pairwise"
    built = api_client.post(
        "/api/v1/training/pairs/build", {"sources": ["pairwise"]}, format="json"
    )
    assert built.status_code == 202 and built.json()["job"].startswith("/api/v1/jobs/")
    freeze = api_client.post(
        "/api/v1/training/datasets",
        {"name": "api-v1", "split": {"train": 70, "val": 15, "test": 15}},
        format="json",
    )
    assert freeze.status_code == 202
    detail = api_client.get(f"/api/v1/training/datasets/{dataset.pk}").json()
    assert detail["counts"]["pairs"]["total"] == 20 and detail["runs"] == []
    export = api_client.get(f"/api/v1/training/datasets/{dataset.pk}/exports/sft/all")
    rows = [json.loads(line) for line in b"".join(export.streaming_content).splitlines()]
    assert set(rows[0]) == {"prompt", "completion"}
    bad = api_client.get(f"/api/v1/training/datasets/{dataset.pk}/exports/xml/train")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"

    started = api_client.post(
        "/api/v1/training/runs",
        {"dataset": dataset.pk, "start_model": local_base.name, "method": "dpo",
         "config": {"max_steps": 2, "learning_rate": 1e-3}},
        format="json",
    )  # fmt: skip
    assert started.status_code == 201, started.json()
    run = started.json()
    assert run["status"] == "queued" and run["live"]["step"] is None
    assert api_client.get(f"/api/v1/training/runs/{run['id']}").json()["name"] == run["name"]
    refused = api_client.post(
        "/api/v1/training/runs",
        {"dataset": dataset.pk, "start_model": local_base.name, "method": "dpo",
         "config": {"qlora": True}},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 400 and "bitsandbytes" in refused.json()["error"]["message"]
    cancelled = api_client.post(f"/api/v1/training/runs/{run['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    resume = api_client.post(f"/api/v1/training/runs/{run['id']}/resume")
    assert resume.status_code == 409 and "no checkpoint" in resume.json()["error"]["message"]
    lineage = api_client.get(f"/api/v1/training/models/{local_base.name}/lineage").json()
    assert lineage["parent"] is None and lineage["trained_from"][0]["name"] == run["name"]
    memory = api_client.get(f"/api/v1/training/memory-estimate?model={local_base.name}").json()
    assert memory["params"] > 0 and not memory["params_exact"]


def test_api_reads_need_a_role_and_writes_need_manage(dataset, make_user, api_client):
    assert api_client.get("/api/v1/training/datasets").status_code == 401
    api_client.force_authenticate(make_user("reader", "pm"))
    assert api_client.get("/api/v1/training/datasets").status_code == 200
    denied = api_client.post("/api/v1/training/pairs/build", {}, format="json")
    assert denied.status_code == 403 and denied.json()["error"]["code"]


def test_training_run_start_refuses_what_cannot_train(dataset):
    from evalhub.services.errors import InvalidInput

    imported = ModelVersion.objects.create(name="remote-only")
    with pytest.raises(InvalidInput, match="needs local weights"):
        training_run_start(dataset=dataset, start_model=imported, method="dpo")
    base = ModelVersion.objects.create(name="b", backend="local", path="/nowhere")
    with pytest.raises(InvalidInput, match="learning_rate must be > 0"):
        training_run_start(dataset=dataset, start_model=base, method="dpo",
                           config={"learning_rate": 0})  # fmt: skip
    with pytest.raises(InvalidInput, match="set by evalhub"):
        training_run_start(dataset=dataset, start_model=base, method="sft",
                           config={"output_dir": "/tmp/x"})  # fmt: skip
