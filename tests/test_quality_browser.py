"""The rater quality page in real headless Chromium: a PM excludes the flagged rater and sees the
support rate before and after; the campaign dashboard's card says so too."""

from __future__ import annotations

import random

import pytest

from evalhub.models import Comparison, RaterExclusion
from evalhub.models.campaigns import Outcome
from evalhub.services.quality import comparison_mark_gold
from evalhub.services.rating import assignment_next, vote_record
from tests.browser import log_in, screenshot
from tests.factories import open_campaign_with_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-secret-1"


class AlwaysGold(random.Random):
    def random(self) -> float:
        return 0.0


def test_pm_excludes_the_flagged_rater(live_server, browser_page, make_user):
    campaign = open_campaign_with_outputs(n_prompts=6, votes_per_prompt=3, name="qbrowser")
    campaign.gold_share, campaign.gold_min_answers = 0.3, 2
    campaign.save()
    for comparison in Comparison.objects.filter(campaign=campaign).order_by("id")[:2]:
        comparison_mark_gold(comparison=comparison, outcome=Outcome.CANDIDATE)
    for name, careful in (("ana", True), ("ben", True), ("hasty", False)):
        rater = make_user(name, "rater")
        while (a := assignment_next(campaign=campaign, rater=rater, rng=AlwaysGold())) is not None:
            baseline_side = "right" if a.candidate_side == "left" else "left"
            choice = a.candidate_side if careful else baseline_side  # hasty: baseline, always
            vote_record(rater=rater, token=a.token, choice=choice)
    make_user("pm-browser", "pm", password=PASSWORD)

    page = browser_page
    log_in(page, live_server.url, "pm-browser", PASSWORD, next_path=f"/dashboard/{campaign.pk}/")
    page.get_by_role("link", name="Rater quality: accuracy on checks, flags and exclusions").click()
    page.wait_for_url(f"**/dashboard/{campaign.pk}/quality/")
    row = page.get_by_role("row", name="hasty")
    assert "flagged" in row.inner_text() and "0%" in row.inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Exclude all 1 flagged").click()
    assert "Excluded 1 flagged rater: hasty." in page.locator(".messages").inner_text()
    facts = page.locator("#before-after").inner_text()
    # By hand: careful raters pick the candidate on all 4 real items (8 wins); hasty picks the
    # baseline everywhere (4 losses): 8 / 12 before, 8 / 8 after.
    assert "Before exclusions\n66.7%" in facts and "After exclusions\n100.0%" in facts
    assert "Votes left out\n4" in facts
    assert RaterExclusion.objects.filter(rater__username="hasty").exists()
    screenshot(page, "quality-page.png")

    with page.expect_navigation():
        page.get_by_role("row", name="hasty").get_by_role("button", name="Include").click()
    assert "hasty's votes count again." in page.locator(".messages").inner_text()
    assert not RaterExclusion.objects.exists()
