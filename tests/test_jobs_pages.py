"""Jobs and campaign-management pages and the jobs / generate API: permissions, CSRF-protected
actions, escaping of untrusted text, the JSON error shape, query counts, and the live poller."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from evalhub.models import Campaign, Job, ModelVersion
from evalhub.services.campaigns import campaign_create
from evalhub.services.jobs import job_create
from tests.browser import log_in
from tests.factories import ModelVersionFactory, OutputFactory, PromptFactory

TASK = "evalhub.tasks.evalhub_selftest_task"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def make_job(**fields) -> Job:
    job = job_create(kind="selftest", title=fields.pop("title", "count to three"), task_path=TASK)
    if fields:
        Job.objects.filter(pk=job.pk).update(**fields)
        job.refresh_from_db()
    return job


def make_campaign(name: str = "support bot v2 vs v1", n_prompts: int = 3) -> Campaign:
    base = ModelVersionFactory(name=f"{name}-base", backend="openai", endpoint="http://gpu:8000")
    cand = ModelVersionFactory(
        name=f"{name}-cand", parent=base, backend="openai", endpoint="http://gpu:8000"
    )
    prompts = [PromptFactory() for _ in range(n_prompts)]
    OutputFactory(prompt=prompts[0], model_version=base)
    return campaign_create(name=name, baseline=base, candidate=cand, prompts=prompts)


def logged_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


# -- permissions ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_raters_and_anonymous_users_are_kept_out(rater, api_client):
    job, campaign = make_job(), make_campaign()
    pages = ["/jobs/", f"/jobs/{job.pk}/", "/campaigns/", f"/campaigns/{campaign.pk}/"]
    posts = [
        f"/jobs/{job.pk}/cancel",
        f"/jobs/{job.pk}/retry",
        f"/campaigns/{campaign.pk}/generate",
        f"/campaigns/{campaign.pk}/open",
        f"/campaigns/{campaign.pk}/close",
    ]
    anonymous = Client()
    for url in pages:
        assert anonymous.get(url).status_code == 302  # to the login page
        assert logged_in(rater).get(url).status_code == 403
    for url in posts:
        assert logged_in(rater).post(url).status_code == 403
    api = [
        ("get", "/api/v1/jobs"),
        ("get", f"/api/v1/jobs/{job.pk}"),
        ("post", f"/api/v1/jobs/{job.pk}/cancel"),
        ("post", f"/api/v1/jobs/{job.pk}/retry"),
        ("post", f"/api/v1/campaigns/{campaign.pk}/generate"),
    ]
    for method, url in api:
        response = getattr(api_client, method)(url)
        assert response.status_code == 401 and response.json()["error"]["code"] == (
            "not_authenticated"
        )
    api_client.force_authenticate(rater)
    for method, url in api:
        response = getattr(api_client, method)(url)
        assert response.status_code == 403 and set(response.json()) == {"error"}
    job.refresh_from_db()
    campaign.refresh_from_db()
    assert job.state == "queued" and campaign.status == "draft" and Job.objects.count() == 1


# -- pages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_list_shows_state_progress_timings_and_errors_in_constant_queries(
    pm, django_assert_num_queries
):
    now = timezone.now()
    campaign = make_campaign()
    make_job(title="queued one")
    make_job(
        title="half way",
        state="running",
        progress_done=5,
        progress_total=10,
        message="5 generated",
        started_at=now - timedelta(seconds=30),
        heartbeat_at=now,
        campaign=campaign,
    )
    make_job(
        title="broken",
        state="failed",
        error="RuntimeError: endpoint down",
        started_at=now - timedelta(minutes=2),
        finished_at=now - timedelta(minutes=1),
    )
    client = logged_in(pm)
    client.get("/jobs/")  # warm the session and permission caches
    with django_assert_num_queries(4) as few:
        html = client.get("/jobs/").content.decode()
    for i in range(6):
        make_job(title=f"more {i}", campaign=campaign, created_by=pm)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/jobs/")
    assert "half way" in html and "5 generated" in html and 'style="width: 50.0%"' in html
    assert "RuntimeError: endpoint down" in html and "60.0 s" in html
    assert campaign.name in html and 'data-job-poll="/api/v1/jobs/' in html
    failed_only = client.get("/jobs/?state=failed").content.decode()
    assert "broken" in failed_only and "half way" not in failed_only


@pytest.mark.django_db
def test_job_detail_shows_log_error_and_result_escaped(pm):
    job = make_job(
        title=f"title {XSS}",
        state="failed",
        error=f"GenerationIncomplete: {XSS}",
        log=f"failed: prompt q1 baseline: {XSS}\n",
        result={"note": XSS},
    )
    html = logged_in(pm).get(f"/jobs/{job.pk}/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # title, error, log (+ result)
    assert f'action="/jobs/{job.pk}/retry"' in html and "/cancel" not in html
    listing = logged_in(pm).get("/jobs/").content.decode()
    assert "<script>alert" not in listing and "&lt;script&gt;" in listing


@pytest.mark.django_db
def test_generation_result_is_a_table_of_failures(pm):
    result = {
        "total": 6,
        "present_before": 0,
        "generated": 4,
        "missing": 2,
        "failed": 2,
        "seconds": 1.5,
        "opened": False,
        "failures": [
            {"prompt_id": 1, "external_id": "q17", "side": "candidate", "error": "HTTP 400: x"}
        ],
    }
    job = make_job(kind="generate", state="failed", result=result)
    html = logged_in(pm).get(f"/jobs/{job.pk}/").content.decode()
    assert "Prompts that failed" in html and "q17" in html and "HTTP 400: x" in html


@pytest.mark.django_db
def test_cancel_and_retry_through_the_page_need_csrf(pm):
    job = make_job(state="running", started_at=timezone.now())
    client = logged_in(pm, csrf=True)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'action="/jobs/{job.pk}/cancel"' in page
    assert client.post(f"/jobs/{job.pk}/cancel").status_code == 403  # no token
    job.refresh_from_db()
    assert not job.cancel_requested
    response = client.post(
        f"/jobs/{job.pk}/cancel", {"csrfmiddlewaretoken": csrf_token(page)}, follow=True
    )
    job.refresh_from_db()
    assert job.cancel_requested and job.state == "running"  # stops at its next step
    assert "will stop at its next step" in response.content.decode()

    Job.objects.filter(pk=job.pk).update(state="cancelled", finished_at=timezone.now())
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    response = client.post(
        f"/jobs/{job.pk}/retry",
        {"csrfmiddlewaretoken": csrf_token(page), "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.state == "queued" and not job.cancel_requested
    again = client.post(
        f"/jobs/{job.pk}/retry", {"csrfmiddlewaretoken": csrf_token(page)}, follow=True
    )
    assert "Only failed or cancelled jobs can be retried" in again.content.decode()


@pytest.mark.django_db
def test_campaign_pages_generate_open_close(pm, django_assert_max_num_queries):
    campaign = make_campaign(name=f"bot {XSS}")
    make_campaign(name="another")
    client = logged_in(pm, csrf=True)
    with django_assert_max_num_queries(6):
        listing = client.get("/campaigns/").content.decode()
    assert "another" in listing and "<script>alert" not in listing

    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert re.search(r"<dt>baseline answers</dt><dd>1</dd>", page)
    assert re.search(r"<dt>candidate answers</dt><dd>0</dd>", page)
    assert "Generate missing outputs" in page and f'href="/dashboard/{campaign.pk}/"' in page
    assert "temperature 0.7, top_p 1.0, max_tokens 256" in page
    token = csrf_token(page)

    response = client.post(
        f"/campaigns/{campaign.pk}/generate", {"csrfmiddlewaretoken": token}, follow=True
    )
    job = Job.objects.get(kind="generate")
    assert job.campaign == campaign and job.created_by == pm and job.state == "queued"
    html = response.content.decode()
    assert (
        f"Generation job {job.pk} queued" in html
        and f'data-job-poll="/api/v1/jobs/{job.pk}"' in html
    )
    assert "Generate missing outputs" not in html and "Cancel job" in html
    again = client.post(
        f"/campaigns/{campaign.pk}/generate", {"csrfmiddlewaretoken": token}, follow=True
    )
    assert "already queued" in again.content.decode() and Job.objects.count() == 1

    opened = client.post(
        f"/campaigns/{campaign.pk}/open", {"csrfmiddlewaretoken": token}, follow=True
    )
    assert "3 prompts still lack an output" in opened.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "open"
    client.post(f"/campaigns/{campaign.pk}/close", {"csrfmiddlewaretoken": token})
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    assert client.get("/campaigns/999999/").status_code == 404


# -- API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jobs_api_list_detail_cancel_retry(pm, api_client):
    api_client.force_authenticate(pm)
    running = make_job(title="r", state="running", log="line 1\n", progress_total=4)
    failed = make_job(title="f", state="failed", error="boom")
    listing = api_client.get("/api/v1/jobs").json()
    assert listing["count"] == 2 and [j["id"] for j in listing["results"]] == [
        failed.pk,
        running.pk,
    ]
    assert "log" not in listing["results"][0]
    assert api_client.get("/api/v1/jobs?state=failed").json()["count"] == 1

    detail = api_client.get(f"/api/v1/jobs/{running.pk}").json()
    assert detail["state"] == "running" and detail["log"] == "line 1\n" and detail["percent"] == 0
    cancelled = api_client.post(f"/api/v1/jobs/{running.pk}/cancel").json()
    assert cancelled["cancel_requested"] is True
    conflict = api_client.post(f"/api/v1/jobs/{failed.pk}/cancel")
    assert conflict.status_code == 409
    assert (
        conflict.json()["error"]["code"] == "conflict"
        and "already failed" in (conflict.json()["error"]["message"])
    )
    retried = api_client.post(f"/api/v1/jobs/{failed.pk}/retry").json()
    assert retried["state"] == "queued" and retried["error"] == ""
    assert api_client.post(f"/api/v1/jobs/{running.pk}/retry").status_code == 409
    missing = api_client.get("/api/v1/jobs/999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_generate_api_queues_once_and_replays_with_an_idempotency_key(pm, api_client):
    api_client.force_authenticate(pm)
    campaign = make_campaign()
    response = api_client.post(
        f"/api/v1/campaigns/{campaign.pk}/generate",
        {"sampling": "own", "max_tokens": 50},
        format="json",
        HTTP_IDEMPOTENCY_KEY="gen-1",
    )
    assert response.status_code == 202
    job = response.json()
    assert job["kind"] == "generate" and job["state"] == "queued"
    assert job["params"]["params_override"] == {"max_tokens": 50}
    replay = api_client.post(
        f"/api/v1/campaigns/{campaign.pk}/generate",
        {"sampling": "own", "max_tokens": 50},
        format="json",
        HTTP_IDEMPOTENCY_KEY="gen-1",
    )
    assert replay.status_code == 202 and replay.json()["id"] == job["id"]
    assert replay["Idempotent-Replayed"] == "true"
    conflict = api_client.post(f"/api/v1/campaigns/{campaign.pk}/generate")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["details"] == {"job_id": job["id"]}
    assert Job.objects.count() == 1

    bad = api_client.post(f"/api/v1/campaigns/{campaign.pk}/generate", {"top_p": 2}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    ModelVersion.objects.filter(pk=campaign.candidate_id).update(backend="imported")
    Job.objects.update(state="cancelled")
    imported = api_client.post(f"/api/v1/campaigns/{campaign.pk}/generate")
    assert imported.status_code == 400
    assert imported.json()["error"]["code"] == "imported_model"
    assert api_client.post("/api/v1/campaigns/999999/generate").status_code == 404


@pytest.mark.django_db
def test_schema_describes_the_jobs_api(pm, api_client):
    api_client.force_authenticate(pm)
    paths = api_client.get("/api/schema/?format=json").json()["paths"]
    assert {
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/jobs/{id}/retry",
        "/api/v1/campaigns/{id}/generate",
    } <= set(paths)
    assert "202" in paths["/api/v1/campaigns/{id}/generate"]["post"]["responses"]


# -- the live poller, in a real browser ----------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_job_page_follows_a_running_job_and_reloads_when_done(live_server, browser_page, pm):
    job = make_job(title="live", state="running", progress_total=10, started_at=timezone.now())
    log_in(browser_page, live_server.url, "pm1", "pw-secret-1", next_path=f"/jobs/{job.pk}/")
    from playwright.sync_api import expect

    page = browser_page
    assert page.locator("[data-job-state]").inner_text() == "running"
    Job.objects.filter(pk=job.pk).update(progress_done=4, message="4 generated", log="a\nb\n")
    # No page-side eval in this test: the pages' CSP forbids it (and the poller must not need it).
    expect(page.locator("[data-job-field=message]")).to_have_text("4 generated")
    assert "width: 40%" in page.locator("[data-job-bar] > span").get_attribute("style")
    assert page.locator("pre[data-job-field=log]").text_content() == "a\nb\n"
    Job.objects.filter(pk=job.pk).update(
        state="succeeded", progress_done=10, finished_at=timezone.now()
    )
    page.wait_for_selector("button:has-text('Cancel')", state="detached")  # reloaded
    assert page.locator("[data-job-state]").inner_text() == "succeeded"
