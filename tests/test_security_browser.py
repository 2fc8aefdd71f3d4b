"""The Content-Security-Policy and XSS payloads in real headless Chromium.

Every main page (rating, dashboard, campaigns, jobs, workbench, choices, feedback, training, the
admin and the API docs) loads under the CSP with no policy violation, no script error, no
request to another origin and no dialog from the poisoned texts; the rater still votes with the
keyboard (rate.js), the dashboard still draws its chart, Swagger UI still renders from the
locally served assets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from evalhub.models import Job, Vote
from tests.browser import log_in
from tests.test_security_web import MARK, PAYLOAD, world  # noqa: F401 - the poisoned world fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-secret-1"


class Watch:
    """Everything a page does that it should not: CSP violations, errors, dialogs, other hosts."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.problems: list[str] = []
        host = urlsplit(base_url).netloc
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("dialog", self._dialog)
        page.on(
            "request",
            lambda request: (
                urlsplit(request.url).scheme in ("http", "https")
                and urlsplit(request.url).netloc != host
                and self.problems.append(f"request to another origin: {request.url}")
            ),
        )

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or (message.type == "error" and MARK in text):
            self.problems.append(f"console: {text[:300]}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog opened: {dialog.message}")
        dialog.dismiss()


def _passwords(data: dict[str, Any]) -> None:
    for user in data["users"].values():
        user.set_password(PASSWORD)
        user.save()


def test_pages_load_under_the_csp_and_payloads_stay_inert(live_server, new_browser_context, world):  # noqa: F811
    _passwords(world)
    campaign, job = world["campaign"], world["job"]
    page = new_browser_context().new_page()
    watch = Watch(page, live_server.url)
    log_in(page, live_server.url, "web-admin", PASSWORD)
    paths = [
        "/rate/", f"/rate/{campaign.pk}/", "/dashboard/", f"/dashboard/{campaign.pk}/",
        "/campaigns/", f"/campaigns/{campaign.pk}/", "/jobs/", f"/jobs/{job.pk}/",
        "/workbench/", "/choose/", "/feedback/", "/training/", "/admin/",
        f"/admin/evalhub/campaign/{campaign.pk}/change/",
        f"/admin/evalhub/vote/{Vote.objects.get().pk}/change/", "/admin/evalhub/prompt/",
    ]  # fmt: skip
    if world["thumbs_campaign"] is not None:
        paths.append(f"/feedback/thumbs/{world['thumbs_campaign'].pk}/")
    if world["conversation"] is not None:
        paths.append(f"/workbench/c/{world['conversation']}/")
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status in (200, 204), (path, response.status)
        assert response.headers.get("content-security-policy", "").startswith("default-src 'self'")
        page.wait_for_load_state("load")
    page.goto(f"{live_server.url}/rate/{campaign.pk}/")
    assert MARK in page.locator(".answer-left").inner_text()  # shown as text
    assert page.locator(".answer-left script, .answer-left img, .answer-left svg").count() == 0
    assert not watch.problems, "\n".join(watch.problems)


def test_rater_votes_with_the_keyboard_under_the_csp(live_server, browser_page, world):  # noqa: F811
    _passwords(world)
    watch = Watch(browser_page, live_server.url)
    campaign = world["campaign"]
    log_in(browser_page, live_server.url, "web-rater", PASSWORD, next_path=f"/rate/{campaign.pk}/")
    votes_before = Vote.objects.count()
    with browser_page.expect_navigation():
        browser_page.keyboard.press("3")  # tie, through rate.js's keyboard shortcuts
    assert browser_page.locator(".message.success").inner_text() == "Vote recorded."
    assert Vote.objects.count() == votes_before + 1
    assert not watch.problems, "\n".join(watch.problems)


def test_dashboard_draws_its_chart_under_the_csp(live_server, browser_page, world):  # noqa: F811
    _passwords(world)
    watch = Watch(browser_page, live_server.url)
    log_in(browser_page, live_server.url, "web-pm", PASSWORD)
    browser_page.goto(f"{live_server.url}/dashboard/{world['campaign'].pk}/")
    browser_page.wait_for_load_state("load")
    canvases = browser_page.locator("canvas")
    if canvases.count():  # Chart.js ran: it sized and drew the canvas
        assert canvases.first.evaluate("c => c.width > 0 && c.height > 0")
    assert not watch.problems, "\n".join(watch.problems)


def test_swagger_ui_renders_from_local_assets(live_server, browser_page, world):  # noqa: F811
    watch = Watch(browser_page, live_server.url)
    browser_page.goto(f"{live_server.url}/api/docs/")
    browser_page.locator(".swagger-ui .info .title").wait_for()
    assert "evalhub API" in browser_page.locator(".swagger-ui .info .title").inner_text()
    assert browser_page.locator(".opblock").count() > 20  # every operation listed
    assert not watch.problems, "\n".join(watch.problems)


def test_a_job_error_stays_text_on_the_job_page(live_server, browser_page, world):  # noqa: F811
    _passwords(world)
    watch = Watch(browser_page, live_server.url)
    log_in(browser_page, live_server.url, "web-pm", PASSWORD)
    job = Job.objects.get(pk=world["job"].pk)
    browser_page.goto(f"{live_server.url}/jobs/{job.pk}/")
    assert PAYLOAD[:40] in browser_page.content().replace("&lt;", "<").replace("&gt;", ">")
    assert (
        browser_page.locator("main script:not([src]):not([type='application/json'])").count() == 0
    )
    assert not watch.problems, "\n".join(watch.problems)
