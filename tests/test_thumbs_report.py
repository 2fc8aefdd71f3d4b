"""Thumbs figures (STATS.md 4.2): rates with Wilson intervals, the paired comparison by prompt
(McNemar + Tango) and the independent one (Newcombe + Boschloo), on the dashboard and as JSON."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evalhub.stats import thumbs_paired, thumbs_unpaired, wilson_interval
from feedback.reports import thumbs_report
from feedback.services.thumbs import thumb_record
from tests.factories import OutputFactory, PromptFactory
from tests.test_feedback_helpers import feedback_campaign

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def thumb(campaign, output, value, user=""):
    return thumb_record(
        sent_by=None, value=value, output_id=output.pk, campaign_id=campaign.pk,
        product_user_id=user, channel="web" if output.pk % 2 else "app",
    )  # fmt: skip


@pytest.fixture
def campaign():
    """12 prompt pairs (5 both up, 4 only candidate up, 1 only baseline up, 2 both down), one
    pair decided by a majority, one left out as split, and 4 thumbs on candidate-only prompts."""
    campaign = feedback_campaign("thumbs", name="rep")
    table = [("up", "up")] * 5 + [("up", "down")] * 4 + [("down", "up")] + [("down", "down")] * 2
    for ft, base in table:
        prompt = PromptFactory()
        thumb(campaign, OutputFactory(prompt=prompt, model_version=campaign.candidate), ft)
        thumb(campaign, OutputFactory(prompt=prompt, model_version=campaign.baseline), base)
    majority = PromptFactory()  # candidate: up, up, down (majority up); baseline: down
    ft = OutputFactory(prompt=majority, model_version=campaign.candidate)
    for value in ("up", "up", "down"):
        thumb(campaign, ft, value)
    thumb(campaign, OutputFactory(prompt=majority, model_version=campaign.baseline), "down")
    split = PromptFactory()  # baseline split 1-1: left out of the pairs
    thumb(campaign, OutputFactory(prompt=split, model_version=campaign.candidate), "up")
    base = OutputFactory(prompt=split, model_version=campaign.baseline)
    thumb(campaign, base, "up", user="u1")
    thumb(campaign, base, "down", user="u2")
    for value in ("up", "up", "up", "down"):
        thumb(campaign, OutputFactory(model_version=campaign.candidate), value)
    # A superseded thumb and a thumb of another campaign never count.
    thumb(campaign, base, "up", user="u2")
    thumb(campaign, base, "down", user="u2")
    other = feedback_campaign("thumbs", name="other")
    thumb(other, OutputFactory(model_version=other.candidate), "up")
    return campaign


def test_thumbs_report_matches_the_statistics(campaign):
    report = thumbs_report(campaign)
    ft, base = report["models"]["candidate"], report["models"]["baseline"]
    # candidate: 9 of 12 paired + 2 of 3 (majority) + 1 (split) + 3 of 4 = 15 of 20
    assert (ft["ups"], ft["n"]) == (15, 20)
    # baseline: 6 of 12 + 0 of 1 + 1 of 2 (u2's latest is down) = 7 of 15
    assert (base["ups"], base["n"]) == (7, 15)
    low, high = wilson_interval(15, 20)
    assert math.isclose(ft["ci_low"], float(low)) and math.isclose(ft["ci_high"], float(high))

    paired = report["paired"]
    assert (paired["both_up"], paired["candidate_only_up"]) == (5, 5)
    assert (paired["baseline_only_up"], paired["both_down"]) == (1, 2)
    assert paired["n_pairs"] == 13 and paired["prompts_left_out_tied"] == 1
    expected = thumbs_paired(5, 5, 1, 2)
    for key, value in (("difference", expected.difference), ("ci_low", expected.ci_low),
                       ("ci_high", expected.ci_high), ("p_value", expected.p_value)):  # fmt: skip
        assert math.isclose(paired[key], value, abs_tol=1e-12), key
    independent = thumbs_unpaired(15, 20, 7, 15)
    assert math.isclose(report["unpaired"]["ci_low"], independent.ci_low)
    assert math.isclose(report["unpaired"]["p_value"], independent.p_value)
    assert report["unpaired"]["test"] == "boschloo"
    assert report["comparison"] == "paired"  # most thumbs fall on paired prompts
    assert report["n_thumbs"] == 35
    assert {row["channel"] for row in report["by_channel"]} == {"web", "app"}
    assert "points higher" in report["summary"]
    assert "support_rate" not in report and "band" not in report  # not a support rate


def test_an_empty_thumbs_campaign_reports_no_comparison():
    report = thumbs_report(feedback_campaign("thumbs", name="empty"))
    assert report["n_thumbs"] == 0 and report["unpaired"] is None
    assert report["paired"]["n_pairs"] == 0 and report["models"]["candidate"]["rate"] is None
    assert "Not enough thumbs" in report["summary"]


def test_dashboard_and_api(client, api_client, make_user, campaign, django_assert_max_num_queries):
    pm = make_user("pm-th", "pm")
    client.force_login(pm)
    with django_assert_max_num_queries(12):
        page = client.get(f"/feedback/thumbs/{campaign.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    for text in (campaign.candidate.name, campaign.baseline.name, "15 of 20", "7 of 15",
                 "McNemar", "Newcombe", "primary"):  # fmt: skip
        assert text in body, text
    index = client.get("/feedback/")
    assert index.status_code == 200 and f"/feedback/thumbs/{campaign.pk}/" in index.content.decode()
    assert client.get(f"/feedback/workbench/{campaign.pk}/").status_code == 404
    api_client.force_authenticate(pm)
    data = api_client.get(f"/api/v1/feedback/campaigns/{campaign.pk}/report").json()
    assert data["models"]["candidate"]["ups"] == 15
    client.force_login(make_user("r-th", "rater"))
    assert client.get(f"/feedback/thumbs/{campaign.pk}/").status_code == 403


def test_the_js_snippet_is_documented_and_served(client):
    snippet = (ROOT / "feedback" / "static" / "feedback" / "evalhub-thumbs.js").read_text()
    assert snippet.strip() in (ROOT / "feedback" / "README.md").read_text()
    page = client.get("/feedback/docs/thumbs/")
    assert page.status_code == 200
    assert "function evalhubThumb(value, answer)" in page.content.decode()
    assert "Idempotency-Key" in snippet


def test_the_feedback_index_costs_the_same_queries_whatever_its_length(
    client, make_user, django_assert_num_queries
):
    client.force_login(make_user("pm-index", "pm"))
    feedback_campaign("thumbs", name="one")
    client.get("/feedback/")
    with django_assert_num_queries(4) as few:
        client.get("/feedback/")
    for kind, name in (("workbench", "two"), ("choice", "three"), ("thumbs", "four")):
        feedback_campaign(kind, name=name)
    with django_assert_num_queries(len(few.captured_queries)):
        body = client.get("/feedback/").content.decode()
    assert all(f"{name}: " in body for name in ("one", "two", "three", "four"))
