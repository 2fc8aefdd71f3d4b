"""PM dashboard pages: access, content, escaping, vendored charts, constant query counts."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evalhub.models import Label, ModelVersion
from evalhub.services.campaigns import campaign_close
from tests.factories import ModelVersionFactory, open_campaign_with_outputs
from tests.test_reports_data import add_votes, campaign_between, label_prompts, make_campaign

pytestmark = pytest.mark.django_db

C, B, T = "candidate", "baseline", "tie"


@pytest.fixture
def pm_client(client, pm):
    client.force_login(pm)
    return client


@pytest.fixture
def campaign():
    campaign = make_campaign(n_prompts=4)
    add_votes(campaign, [[C, C, B], [C, T, C], [B, C, C], [C, C, C]])
    label_prompts(campaign, [["billing"], ["billing", "tech"], ["tech"], []])
    return campaign


def test_list_shows_each_campaign_with_its_verdict_and_interval(pm_client, campaign):
    other = make_campaign(name="quiet", n_prompts=2)
    response = pm_client.get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert campaign.name in html and other.name in html
    assert "81.8%" in html  # 9 of 11 decisive votes
    assert "Between " in html  # the verdict in words
    assert "Insufficient data" in html  # the campaign without votes
    assert html.count('class="interval interval-fixed"') == 1  # only the campaign with votes
    assert f'href="/dashboard/{campaign.pk}/"' in html
    assert "12 votes so far · all 12 planned are in" in html
    assert "0 votes so far · 6 of 6 planned still to come" in html


def test_campaign_page_has_headline_tables_and_downloads(pm_client, campaign):
    response = pm_client.get(f"/dashboard/{campaign.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "Anytime-valid interval",
        "Exact test against 50%",
        "By label",
        "billing",
        "tech",
        "Krippendorff",
        "Position bias",
        "judge-0",
        "Support rate over time",
    ):
        assert text in html, text
    api = f"/api/v1/campaigns/{campaign.pk}/report"
    assert f'href="{api}?format=csv&amp;by=label"' in html
    assert f'href="{api}?by=label"' in html
    data = json.loads(re.search(r'id="dashboard-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert data["days"][0]["cum_n_votes"] == 12
    assert len(data["bands"]) == 5


def test_the_chart_library_is_served_from_our_static_files(pm_client, campaign):
    html = pm_client.get(f"/dashboard/{campaign.pk}/").content.decode()
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert "/static/vendor/chartjs/chart.umd.min.js" in sources
    assert "/static/evalhub/dashboard.js" in sources
    assert all(src.startswith("/static/") for src in sources)  # no CDN
    path = finders.find("vendor/chartjs/chart.umd.min.js")
    assert path is not None
    with open(path, encoding="utf-8") as handle:
        assert "Chart.js v4" in handle.read(200)
    assert finders.find("vendor/chartjs/LICENSE.md") is not None


def test_raters_get_403_and_visitors_are_sent_to_sign_in(client, rater, campaign):
    assert client.get("/dashboard/").status_code == 302
    assert "/accounts/login/" in client.get(f"/dashboard/{campaign.pk}/")["Location"]
    client.force_login(rater)
    assert client.get("/dashboard/").status_code == 403
    assert client.get(f"/dashboard/{campaign.pk}/").status_code == 403


def test_unknown_campaign_is_404(pm_client):
    assert pm_client.get("/dashboard/999999/").status_code == 404


def test_untrusted_names_are_escaped(pm_client):
    evil = "<script>alert(1)</script>"
    base = ModelVersionFactory(name="<b>base</b>")
    campaign = open_campaign_with_outputs(n_prompts=2, name='<img src=x onerror="alert(2)">')
    campaign.baseline = base  # a model name with HTML too
    ModelVersion.objects.filter(pk=campaign.candidate_id).update(parent=base)
    campaign.save(update_fields=["baseline"])
    add_votes(campaign, [[C, B], [C, C]])
    campaign.prompts.first().labels.add(Label.objects.create(name=evil))
    for url in ("/dashboard/", f"/dashboard/{campaign.pk}/"):
        html = pm_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html, url
        assert '<img src=x onerror="alert(2)">' not in html, url
        assert "<b>base</b>" not in html, url
        assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the label, on the campaign page


def test_leaderboard_appears_when_several_versions_of_a_lineage_were_compared(pm_client):
    base = ModelVersion.objects.create(name="base-7b")
    v1 = ModelVersion.objects.create(name="support-v1", parent=base, method="lora")
    v2 = ModelVersion.objects.create(name="support-v2", parent=base, method="lora")
    first = _campaign(base, v1, "v1 vs base", [[C, C, B]] * 6)
    second = _campaign(v1, v2, "v2 vs v1", [[C, C, C]] * 6)
    html = pm_client.get(f"/dashboard/{second.pk}/").content.decode()
    assert "Model versions" in html
    assert html.index("support-v2") < html.index("support-v1")  # best first
    assert "(anchor)" in html and "1000" in html
    # a lineage with a single comparison has no leaderboard
    alone = ModelVersion.objects.create(name="solo-base")
    solo = _campaign(
        alone, ModelVersion.objects.create(name="solo-ft", parent=alone), "solo", [[C]]
    )
    assert "Model versions" not in pm_client.get(f"/dashboard/{solo.pk}/").content.decode()
    assert first.pk != second.pk


def _campaign(baseline, candidate, name, plan):
    campaign = campaign_between(baseline, candidate, name, len(plan))
    add_votes(campaign, plan)
    return campaign


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _populate(n_prompts, n_labels, judges, raters):
    campaign = make_campaign(name=f"q{n_prompts}", n_prompts=n_prompts)
    outcomes = [C, B, T, C, C, B, C, C, "both_bad", C]
    n_votes = len(raters) + len(judges)
    plan = [[outcomes[(j + k) % 10] for k in range(n_votes)] for j in range(n_prompts)]
    add_votes(campaign, [votes[: len(raters)] for votes in plan], raters=raters)
    add_votes(campaign, [votes[len(raters) :] for votes in plan], judges=judges)
    label_prompts(
        campaign, [[f"label-{(j + i) % n_labels}" for i in range(2)] for j in range(n_prompts)]
    )
    return campaign


def test_query_counts_do_not_grow_with_votes_labels_or_campaigns(client, make_user):
    pm = make_user("pm-q", "pm")
    raters = [make_user(f"qr{k}") for k in range(2)]
    small = _populate(5, 1, [], raters)  # 10 votes, 1 label
    client.force_login(pm)
    list_small = _count_queries(client, "/dashboard/")
    page_small = _count_queries(client, f"/dashboard/{small.pk}/")

    large = _populate(30, 30, [f"j{k}" for k in range(8)], raters)  # 300 votes, 30 labels
    campaign_close(campaign=make_campaign(name="third", n_prompts=2))
    list_large = _count_queries(client, "/dashboard/")
    page_large = _count_queries(client, f"/dashboard/{large.pk}/")

    assert list_small == list_large
    assert page_small == page_large
    assert list_large <= 10 and page_large <= 25
