"""The AI judge pages in real headless Chromium: a PM sees the judge's figures beside people's,
marked AI, approves the run (the gate opens only with enough agreement), and the page says so."""

from __future__ import annotations

import pytest

from assist.models import JudgeRun
from assist.services.judge import judge_run_create
from assist.tasks import run_judge_job
from tests.browser import log_in, screenshot
from tests.factories import ModelVersionFactory
from tests.test_assist_helpers import (
    ScriptedFakeBackend,
    judge_responder,
    judged_campaign,
    longer,
    vote_as,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-secret-1"
JUDGE = "judge-browser"


def test_pm_reads_figures_and_approves_a_judge_run(live_server, browser_page, make_user, settings):
    settings.ASSIST_JUDGE_MIN_AGREEMENT_N = 10
    campaign = judged_campaign(12, name="browser")
    vote_as(campaign, [make_user("b-h1")], longer)
    judge = ModelVersionFactory(name=JUDGE, backend="openai", endpoint="http://127.0.0.1:9/v1")
    run = judge_run_create(campaign=campaign, judge=judge, min_agreement_n=10)
    run_judge_job(run.job_id, backend=ScriptedFakeBackend([JUDGE], judge_responder(bias_margin=0)))
    make_user("b-pm", "pm", password=PASSWORD)
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    log_in(page, live_server.url, "b-pm", PASSWORD, next_path="/assist/")
    assert page.get_by_role("link", name="AI assist").is_visible()  # in the navigation
    assert page.locator("h1 + .ai-badge").inner_text() == "AI"
    with page.expect_navigation():
        page.get_by_role("link", name=f"#{run.pk}").click()
    assert page.locator('[data-figure="judged"]').inner_text().startswith("12")
    assert page.locator('[data-figure="agreement"]').inner_text().startswith("100%")
    # Equal-length pairs got "A" in both orders: inconsistent, so counted as ties.
    assert page.locator('[data-figure="inconsistent"]').inner_text().startswith("2")
    screenshot(page, "assist-judge-run.png")

    page.fill('input[name="note"]', "agreement 100% on 12, kappa 1")
    with page.expect_navigation():
        page.get_by_role("button", name="Approve the judge's labels").click()
    assert "Approved" in page.locator(".messages").inner_text()
    assert page.locator("[data-approved]").is_visible()
    run.refresh_from_db()
    assert run.approved_by.username == "b-pm" and run.approval_note.startswith("agreement")

    with page.expect_navigation():
        page.get_by_role("button", name="Write AI-judge training pairs").click()
    # 12 minus the 2 equal-length pairs (inconsistent): 10 decisive verdicts become pairs.
    assert "10 new" in page.locator(".messages").inner_text()

    page.goto(f"{live_server.url}/assist/campaigns/{campaign.pk}/")
    row = page.locator(f'[data-run="{run.pk}"]')
    assert "approved" in row.inner_text() and row.locator(".ai-badge").count() == 1
    screenshot(page, "assist-campaign.png")
    assert errors == []
    assert JudgeRun.objects.get(pk=run.pk).counts["inconsistent"] == 2


def test_pm_starts_an_augmentation_from_the_form_and_reads_the_result(
    live_server, browser_page, make_user
):
    from assist.models import AugmentationRun
    from assist.tasks import run_augmentation_job
    from evalhub.generation.fake import FakeBackend
    from evalhub.models import Label, Prompt

    faq = Label.objects.create(name="faq")
    for text in ("Where is my parcel?", "How do I change my password?", "Can I pay by invoice?"):
        Prompt.objects.create(instruction=text).labels.add(faq)
    ModelVersionFactory(name="writer-b", backend="openai", endpoint="http://127.0.0.1:9/v1")
    make_user("b-pm2", "pm", password=PASSWORD)
    page = browser_page
    log_in(page, live_server.url, "b-pm2", PASSWORD, next_path="/assist/")
    page.get_by_text("Augment prompts").click()
    form = page.locator("form[action='/assist/augmentations/new']")
    form.locator("select[name='model']").select_option("writer-b")
    form.locator("select[name='method']").select_option("paraphrase")
    form.locator("input[name='label']").fill("faq")
    with page.expect_navigation():
        form.get_by_role("button", name="Start augmentation").click()
    assert "queued" in page.locator(".messages").inner_text()
    run = AugmentationRun.objects.get()
    run_augmentation_job(run.job_id, backend=FakeBackend(["writer-b"]))
    page.reload()
    assert page.locator('[data-figure="kept"]').inner_text() == "3"
    assert page.locator("td .as-state-kept").count() == 3
    screenshot(page, "assist-augmentation.png")
