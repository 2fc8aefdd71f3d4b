"""The assist API and pages: who may use them, the JSON error shape, Idempotency-Key, the
approval gate through HTTP (audited), AI badges, model text escaped, query counts that do not
grow with the number of runs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assist.models import AugmentationRun, JudgeRun
from assist.services.judge import judge_run_create
from assist.tasks import run_judge_job
from evalhub.models import AuditEvent, Label, Output, Prompt
from tests.factories import ModelVersionFactory
from tests.test_assist_helpers import (
    ScriptedFakeBackend,
    judge_responder,
    judged_campaign,
    longer,
    vote_as,
)

pytestmark = pytest.mark.django_db
JUDGE = "judge-api"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def judge_model(db):
    return ModelVersionFactory(
        name=JUDGE, backend="openai", endpoint="http://127.0.0.1:9/v1", served_name=JUDGE
    )


def client_as(api_client, make_user, role: str):
    api_client.force_authenticate(make_user(f"api-{role}", role))
    return api_client


def finished_run(campaign, judge_model, **kwargs) -> JudgeRun:
    run = judge_run_create(campaign=campaign, judge=judge_model, **kwargs)
    run_judge_job(run.job_id, backend=ScriptedFakeBackend([JUDGE], judge_responder()))
    run.refresh_from_db()
    return run


@pytest.mark.parametrize(("role", "status"), [("rater", 403), ("agent", 403), ("expert", 403)])
def test_only_data_managers_reach_the_api(api_client, make_user, role, status):
    client = client_as(api_client, make_user, role)
    for path in ("/api/v1/assist/judge-runs", "/api/v1/assist/augmentations"):
        response = client.get(path)
        assert response.status_code == status
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/v1/assist/judge-runs").status_code == 401


def test_start_a_judge_run_once_per_idempotency_key(api_client, make_user, judge_model):
    campaign = judged_campaign(3, name="api")
    client = client_as(api_client, make_user, "pm")
    body = {"campaign": campaign.pk, "judge": JUDGE, "limit": 2}
    first = client.post("/api/v1/assist/judge-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post("/api/v1/assist/judge-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert JudgeRun.objects.count() == 1
    data = first.json()
    assert data["is_ai"] is True and data["status"] == "queued" and data["job"]
    assert client.get(f"/api/v1/jobs/{data['job']}").json()["kind"] == "judge"

    unknown = client.post("/api/v1/assist/judge-runs", {**body, "judge": "nope"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid"
    imported = ModelVersionFactory(name="only-imported")
    refused = client.post(
        "/api/v1/assist/judge-runs", {**body, "judge": imported.name}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "imported_model"


def test_approval_gate_over_the_api(api_client, make_user, judge_model, settings):
    campaign = judged_campaign(6, name="gate")
    vote_as(campaign, [make_user("hv")], longer)
    client = client_as(api_client, make_user, "pm")
    strict = finished_run(campaign, judge_model)  # needs 30 (the default floor): refused
    response = client.post(f"/api/v1/assist/judge-runs/{strict.pk}/approve", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "agreement_not_measured"
    assert response.json()["error"]["details"] == {"measured_on": 6, "required": 30}
    publish = client.post(f"/api/v1/assist/judge-runs/{strict.pk}/publish-pairs")
    assert publish.status_code == 409 and publish.json()["error"]["code"] == "not_approved"

    too_low = client.post("/api/v1/assist/judge-runs",
                          {"campaign": campaign.pk, "judge": JUDGE, "min_agreement_n": 5}, format="json")  # fmt: skip
    assert (
        too_low.status_code == 400 and "raised, not lowered" in too_low.json()["error"]["message"]
    )
    settings.ASSIST_JUDGE_MIN_AGREEMENT_N = 5  # a deployment that accepts a smaller floor
    lenient = finished_run(campaign, judge_model, min_agreement_n=5)
    detail = client.get(f"/api/v1/assist/judge-runs/{lenient.pk}").json()
    assert detail["agreement"]["n"] == 6 and detail["agreement"]["rate"] == 1.0
    approved = client.post(
        f"/api/v1/assist/judge-runs/{lenient.pk}/approve", {"note": "ok"}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["approved_by"] == "api-pm"
    assert AuditEvent.objects.filter(action="judge_run.approve", via="api").count() == 1
    pairs = client.post(f"/api/v1/assist/judge-runs/{lenient.pk}/publish-pairs").json()
    assert pairs["new"] == 5  # 6 comparisons: 4 candidate-longer + 1 baseline-longer + 1 tie
    verdicts = client.get(f"/api/v1/assist/judge-runs/{lenient.pk}/verdicts").json()
    assert verdicts["count"] == 6 and {v["verdict_ab"] for v in verdicts["results"]} <= {
        "A",
        "B",
        "tie",
    }


def test_start_an_augmentation_over_the_api(api_client, make_user):
    writer = ModelVersionFactory(name="writer", backend="openai", endpoint="http://127.0.0.1:9/v1")
    tag = Label.objects.create(name="faq")
    for text in ("Where is my order?", "How do I return a lamp?"):
        Prompt.objects.create(instruction=text).labels.add(tag)
    client = client_as(api_client, make_user, "admin")
    none = client.post("/api/v1/assist/augmentations", {"model": "writer", "method": "paraphrase"},
                       format="json")  # fmt: skip
    assert none.status_code == 400 and "Choose the prompts" in none.json()["error"]["message"]
    body = {
        "model": "writer",
        "method": "back_translation",
        "label": "faq",
        "pivot_language": "German",
    }
    response = client.post("/api/v1/assist/augmentations", body, format="json")
    assert response.status_code == 202
    run = AugmentationRun.objects.get(pk=response.json()["id"])
    assert run.pivot_language == "German" and len(run.source_prompt_ids) == 2 and run.job_id
    assert run.prompt_filter["label"] == "faq"
    assert writer.augmentation_runs.count() == 1


# -- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["rater", "agent", "expert"])
def test_pages_refuse_non_managers(client, make_user, role):
    client.force_login(make_user(f"page-{role}", role))
    assert client.get("/assist/").status_code == 403


def test_overview_queries_do_not_grow_with_runs(client, make_user, judge_model):
    campaign = judged_campaign(2, name="ov")
    client.force_login(make_user("page-pm", "pm"))
    finished_run(campaign, judge_model)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/assist/").status_code == 200
    for _ in range(4):
        finished_run(campaign, judge_model)
    with CaptureQueriesContext(connection) as five:
        response = client.get("/assist/")
    assert len(five) == len(one)
    assert response.content.decode().count('class="ai-badge"') >= 2


def test_judge_page_shows_figures_escapes_model_text_and_approves(
    client, make_user, judge_model, settings
):
    settings.ASSIST_JUDGE_MIN_AGREEMENT_N = 5
    campaign = judged_campaign(5, name="page")
    vote_as(campaign, [make_user("hp")], longer)
    pm = make_user("page-pm2", "pm")
    client.force_login(pm)
    run = judge_run_create(campaign=campaign, judge=judge_model, min_agreement_n=5)
    run_judge_job(
        run.job_id,
        backend=ScriptedFakeBackend(
            [JUDGE], lambda m: f"Verdict: B {XSS}" if "[ANSWER A]" in m else None
        ),
    )
    page = client.get(f"/assist/judge-runs/{run.pk}/").content.decode()
    assert XSS not in page and "&lt;script&gt;alert" in page
    assert "AI judge" in page and 'data-figure="agreement"' in page and "Cohen" in page

    response = client.post(f"/assist/judge-runs/{run.pk}/approve", {"note": "seen"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.approved_by == pm
    assert AuditEvent.objects.get(action="judge_run.approve").via == "page"
    page = client.get(f"/assist/judge-runs/{run.pk}/").content.decode()
    assert "data-approved" in page and "Write AI-judge training pairs" in page


def test_blocked_gate_is_explained_on_the_page(client, make_user, judge_model):
    campaign = judged_campaign(3, name="blk")
    client.force_login(make_user("page-pm3", "pm"))
    run = finished_run(campaign, judge_model)
    page = client.get(f"/assist/judge-runs/{run.pk}/").content.decode()
    assert 'data-gate="blocked"' in page and "at least 30 are needed" in page
    response = client.post(f"/assist/judge-runs/{run.pk}/approve", follow=True)
    assert "at least 30" in response.content.decode()
    run.refresh_from_db()
    assert run.approved_at is None


def test_campaign_page_keeps_people_and_ai_apart(client, make_user, judge_model):
    campaign = judged_campaign(10, name="cmp")
    vote_as(campaign, [make_user("hc")], lambda c: "candidate")
    client.force_login(make_user("page-pm4", "pm"))
    run = finished_run(campaign, judge_model)
    page = client.get(f"/assist/campaigns/{campaign.pk}/").content.decode()
    people, ai = page.split('id="ai-h"')
    assert "Human support rate" in people and "100%" in people  # people: 10 of 10
    assert f'data-run="{run.pk}"' in ai and "75%" in ai  # the judge: 6 of 8 decisive
    assert "ai-badge" in ai


def test_quality_flags_are_listed_escaped(client, make_user, judge_model):
    campaign = judged_campaign(5, name="qp")
    Output.objects.filter(model_version=campaign.candidate).update(text=f"no {XSS}")
    client.force_login(make_user("page-pm5", "pm"))
    run = finished_run(campaign, judge_model, kind="quality", quality_threshold=3)
    page = client.get(f"/assist/judge-runs/{run.pk}/").content.decode()
    assert run.counts["flagged"] == 5 and page.count("data-flagged=") == 5
    assert XSS not in page and "low-quality outputs" in page


def test_start_forms_queue_runs(client, make_user, judge_model):
    campaign = judged_campaign(2, name="form")
    client.force_login(make_user("page-admin", "admin"))
    response = client.post("/assist/judge-runs/new", {
        "campaign": campaign.pk, "judge": JUDGE, "kind": "pairs", "both_orders": "on",
        "quality_threshold": 3,
    })  # fmt: skip
    run = JudgeRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/assist/judge-runs/{run.pk}/"
    assert run.both_orders and run.created_by.username == "page-admin"
    response = client.post("/assist/augmentations/new", {
        "model": JUDGE, "method": "paraphrase", "campaign": campaign.pk, "per_prompt": 2,
    })  # fmt: skip
    augmentation = AugmentationRun.objects.get()
    assert response["Location"] == f"/assist/augmentations/{augmentation.pk}/"
    assert len(augmentation.source_prompt_ids) == 2 and augmentation.per_prompt == 2
    assert client.get(f"/assist/augmentations/{augmentation.pk}/").status_code == 200


def test_a_run_follows_its_job_cancelled_while_queued_and_retried(judge_model):
    """Cancelled before a worker took it, the task never runs: the run says so anyway; a retry
    puts it back in the queue, and a worker then finishes it."""
    from evalhub.services.jobs import job_cancel, job_retry

    run = judge_run_create(campaign=judged_campaign(3, name="follow"), judge=judge_model)
    assert run.status == "queued"
    job_cancel(job=run.job)
    run.refresh_from_db()
    assert run.status == "cancelled"
    job_retry(job=run.job)
    run.refresh_from_db()
    assert run.status == "queued"
    run_judge_job(run.job_id, backend=ScriptedFakeBackend([JUDGE], judge_responder()))
    run.refresh_from_db()
    assert run.status == "succeeded" and run.job.state == "succeeded"
