"""The dashboard in real headless Chromium: the vendored Chart.js draws the chart, no script
errors, the pages fit a phone; screenshots for docs/screenshots/."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from evalhub.models import ModelVersion
from evalhub.services.campaigns import campaign_close
from tests.browser import PHONE, log_in, screenshot
from tests.test_reports_data import add_votes, campaign_between, label_prompts, random_plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS = ["billing", "refunds", "shipping", "account", "technical", "tone"]


def _demo_data(make_user):
    """Three campaigns of one model lineage, with votes spread over ten days."""
    rng = np.random.default_rng(4)
    base = ModelVersion.objects.create(name="base-7b")
    v1 = ModelVersion.objects.create(name="support-v1", parent=base, method="lora")
    v2 = ModelVersion.objects.create(name="support-v2", parent=base, method="dpo")
    v3 = ModelVersion.objects.create(name="support-v3", parent=base, method="dpo")
    raters = [make_user(f"rater-{name}") for name in ("ana", "ben", "chen")]
    start = timezone.now() - timedelta(days=10)

    main = campaign_between(base, v2, "Support replies: DPO round 2", 60)
    label_prompts(main, [[LABELS[j % 6], LABELS[(j * 5 + 1) % 6]] for j in range(60)])
    for day in range(10):
        rows = range(day * 6, day * 6 + 6)
        plan = random_plan(rng, 60, 3, 0.74)
        sub = [plan[j] if j in rows else [] for j in range(60)]
        add_votes(main, sub, raters=raters, created_at=start + timedelta(days=day))
        more = random_plan(rng, 60, 4, 0.74)
        sub = [more[j] if j in rows else [] for j in range(60)]
        add_votes(
            main,
            sub,
            judges=[f"annotator-{k}" for k in range(4)],
            created_at=start + timedelta(days=day, hours=3),
        )

    older = campaign_between(base, v1, "Support replies: first LoRA", 40)
    add_votes(older, random_plan(rng, 40, 6, 0.6), created_at=start - timedelta(days=20))
    campaign_close(campaign=older)
    newest = campaign_between(v2, v3, "Refund tone check (v3 vs v2)", 30)
    add_votes(newest, random_plan(rng, 30, 2, 0.55))
    add_votes(newest, random_plan(rng, 30, 1, 0.5), judges=["sim"], simulated=True)
    return main, raters


def test_dashboard_pages_draw_charts_without_errors(live_server, browser_page, make_user, pm):
    main, _ = _demo_data(make_user)
    errors: list[str] = []
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_page.on(  # a CSP refusal or a script error shows up as a console error
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    browser_page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    log_in(browser_page, live_server.url, "pm1", "pw-secret-1", "/dashboard/")

    browser_page.goto(f"{live_server.url}/dashboard/")
    assert browser_page.locator(".campaign-row").count() == 3
    screenshot(browser_page, "dashboard-list.png")

    browser_page.goto(f"{live_server.url}/dashboard/{main.pk}/")
    browser_page.wait_for_function("() => window.Chart && Chart.getChart('rate-chart')")
    points = browser_page.evaluate(
        "() => Chart.getChart('rate-chart').data.datasets.map(d => d.data.length)"
    )
    assert points == [10] * 5  # one point per day in each of the five series
    assert browser_page.get_by_role("heading", name="Model versions").is_visible()
    screenshot(browser_page, "dashboard-campaign.png")
    assert errors == []


def test_dashboard_fits_a_phone(live_server, new_browser_context, make_user, pm):
    main, _ = _demo_data(make_user)
    page = new_browser_context(viewport=PHONE).new_page()
    log_in(page, live_server.url, "pm1", "pw-secret-1", "/dashboard/")
    for path in ("/dashboard/", f"/dashboard/{main.pk}/"):
        page.goto(f"{live_server.url}{path}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
    screenshot(page, "dashboard-campaign-phone.png")
