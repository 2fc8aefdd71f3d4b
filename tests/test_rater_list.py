"""The rater's campaign list: own progress, work left for them, pools, constant query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evalhub.selectors.rating import campaigns_for_rater
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db


def _vote_all(api, campaign) -> int:
    n = 0
    while (r := api.get(f"/api/v1/campaigns/{campaign.id}/next")).status_code == 200:
        assert (
            api.post("/api/v1/votes", {"token": r.json()["token"], "choice": "tie"}).status_code
            == 201
        )
        n += 1
    return n


def test_progress_and_work_left_for_this_rater(rater_api, rater, open_campaign, client):
    [item] = campaigns_for_rater(rater=rater)
    assert (item.my_votes, item.remaining, item.has_work_for_me) == (0, 8, True)
    assert _vote_all(rater_api, open_campaign) == 4
    [item] = campaigns_for_rater(rater=rater)
    assert (item.my_votes, item.remaining, item.has_work_for_me) == (4, 4, False)
    client.force_login(rater)
    page = client.get("/rate/")
    assert b"Nothing left for you here" in page.content


def test_pool_restricts_the_list(make_user):
    insider, outsider = make_user("in"), make_user("out")
    open_campaign_with_outputs(n_prompts=1, name="pooled", raters=[insider])
    assert len(campaigns_for_rater(rater=insider)) == 1
    assert campaigns_for_rater(rater=outsider) == []


def test_query_count_does_not_grow_with_campaigns(rater):
    open_campaign_with_outputs(n_prompts=2, name="c0")
    campaigns_for_rater(rater=rater)  # warm the permission cache
    with CaptureQueriesContext(connection) as one:
        assert len(campaigns_for_rater(rater=rater)) == 1
    for i in range(1, 6):
        open_campaign_with_outputs(n_prompts=2, name=f"c{i}")
    with CaptureQueriesContext(connection) as six:
        assert len(campaigns_for_rater(rater=rater)) == 6
    assert len(one) == len(six) == 1
