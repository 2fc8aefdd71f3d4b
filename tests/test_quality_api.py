"""Rater quality API: permissions, exclusions (idempotent, audited, reversible), gold marking,
attention checks, and blindness of checks served to raters."""

from __future__ import annotations

import random
import re

import pytest
from django.test import Client

from evalhub.models import AuditEvent, Comparison, Output, RaterExclusion
from evalhub.models.campaigns import Outcome
from evalhub.services.quality import attention_checks_create, comparison_mark_gold
from evalhub.services.rating import assignment_next, vote_record
from tests.factories import open_campaign_with_outputs
from tests.test_blindness import TagCollector, assert_blind_json, assert_blind_page, scrub_tokens

pytestmark = pytest.mark.django_db


class AlwaysGold(random.Random):
    def random(self) -> float:
        return 0.0


class Rolls(random.Random):
    """Fixed draws, in order (the gold roll of each reservation)."""

    def __init__(self, draws: list[float]) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


@pytest.fixture
def campaign(db):
    campaign = open_campaign_with_outputs(n_prompts=6, votes_per_prompt=2, name="qapi")
    campaign.gold_min_answers = 1
    campaign.save()
    return campaign


@pytest.fixture
def pm_api(api_client, pm):
    api_client.force_authenticate(pm)
    return api_client


def answer_checks_wrong(campaign, rater) -> None:
    """The rater answers every check wrong (tie when the right answer is decisive)."""
    while (a := assignment_next(campaign=campaign, rater=rater, rng=AlwaysGold())) is not None:
        vote_record(rater=rater, token=a.token, choice="tie" if a.comparison.is_gold else "left")


def test_quality_needs_view_reports_and_writes_need_manage(api_client, make_user, campaign):
    url = f"/api/v1/campaigns/{campaign.pk}/quality"
    assert api_client.get(url).status_code == 401
    api_client.force_authenticate(make_user("r-q", "rater"))
    response = api_client.get(url)
    assert response.status_code == 403 and set(response.json()) == {"error"}
    for path in ("exclusions", "gold", "attention-checks"):
        assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/{path}", {}).status_code == 403
    assert RaterExclusion.objects.count() == 0
    api_client.force_authenticate(make_user("pm-q", "pm"))
    assert api_client.get(url).status_code == 200
    assert api_client.get("/api/v1/campaigns/99999/quality").status_code == 404


def test_gold_marking_then_quality_rows(pm_api, make_user, campaign):
    prompts = list(Comparison.objects.filter(campaign=campaign).order_by("id"))
    items = [
        {"key": prompts[0].prompt.external_id, "outcome": "candidate"},
        {"key": str(prompts[1].public_id), "outcome": "both_bad"},
    ]
    url = f"/api/v1/campaigns/{campaign.pk}/gold"
    bad = pm_api.post(url, {"items": [*items, {"key": "nope", "outcome": "tie"}]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["unknown"] == ["nope"]
    assert not Comparison.objects.filter(is_gold=True).exists()  # all or nothing
    wrong = pm_api.post(url, {"items": [{"key": "x", "outcome": "left"}]}, format="json")
    assert wrong.status_code == 400
    response = pm_api.post(url, {"items": items}, format="json")
    assert response.status_code == 200 and response.json() == {"marked": 2}
    gold = dict(Comparison.objects.filter(is_gold=True).values_list("pk", "gold_outcome"))
    assert gold == {prompts[0].pk: "candidate", prompts[1].pk: "both_bad"}
    assert AuditEvent.objects.filter(action="comparison.mark_gold").count() == 2

    campaign.gold_share = 0.5
    campaign.save()
    sloppy = make_user("sloppy-q", "rater")
    answer_checks_wrong(campaign, sloppy)
    body = pm_api.get(f"/api/v1/campaigns/{campaign.pk}/quality").json()
    (row,) = body["raters"]
    assert (row["username"], row["answered"], row["correct"], row["flagged"]) == (
        "sloppy-q",
        2,
        0,
        True,
    )
    assert row["n_votes"] == 6 and row["excluded"] is False
    assert body["report"]["gold_answers"] == 2 and body["report"]["check_accuracy"] == 0.0
    assert body["settings"]["gold_min_answers"] == 1


def test_exclusion_is_idempotent_audited_and_reversible(pm_api, pm, make_user, campaign):
    rater = make_user("ex-q", "rater")
    assignment = assignment_next(campaign=campaign, rater=rater)
    vote_record(rater=rater, token=assignment.token, choice="left")
    url = f"/api/v1/campaigns/{campaign.pk}/exclusions"
    payload = {"rater": "ex-q", "reason": "clicks without reading"}
    first = pm_api.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="ex-1")
    assert first.status_code == 201
    assert first.json()[0]["rater"] == "ex-q" and first.json()[0]["excluded_by"] == "pm1"
    again = pm_api.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="ex-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert RaterExclusion.objects.filter(campaign=campaign).count() == 1
    event = AuditEvent.objects.get(action="campaign.rater_exclude")
    assert event.actor == pm and event.via == "api" and event.after["excluded_rater"] == "ex-q"

    report = pm_api.get(f"/api/v1/campaigns/{campaign.pk}/report?bootstrap=false").json()
    assert report["n_votes"] == 0 and report["quality"]["n_excluded_votes"] == 1

    assert pm_api.delete(f"{url}/{rater.pk}").status_code == 204
    gone = pm_api.delete(f"{url}/{rater.pk}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert AuditEvent.objects.filter(action="campaign.rater_include").count() == 1
    report = pm_api.get(f"/api/v1/campaigns/{campaign.pk}/report?bootstrap=false").json()
    assert report["n_votes"] == 1


@pytest.mark.parametrize(
    "payload", [{}, {"rater": "x", "flagged": True}, {"reason": "no one named"}]
)
def test_exclusion_needs_a_rater_or_flagged(pm_api, campaign, payload):
    response = pm_api.post(f"/api/v1/campaigns/{campaign.pk}/exclusions", payload, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_unknown_rater_is_404(pm_api, campaign):
    response = pm_api.post(
        f"/api/v1/campaigns/{campaign.pk}/exclusions", {"rater": "nobody"}, format="json"
    )
    assert response.status_code == 404


def test_attention_checks_through_the_api(pm_api, campaign):
    url = f"/api/v1/campaigns/{campaign.pk}/attention-checks"
    response = pm_api.post(url, {"count": 2, "seed": 1}, format="json")
    assert response.status_code == 201 and response.json() == {"created": 2}
    assert Comparison.objects.filter(campaign=campaign, gold_kind="attention").count() == 2
    too_many = pm_api.post(url, {"count": 50}, format="json")
    assert too_many.status_code == 409 and too_many.json()["error"]["details"]["available"] == 4


def _neutral(campaign) -> None:
    for number, output in enumerate(Output.objects.filter(sample_index__lt=10**6).order_by("id")):
        output.text = f"Reply {chr(ord('A') + number)}: kindly wait for the courier."
        output.save(update_fields=["text"])


def _skeleton(body: str) -> list[tuple[str, tuple[str, ...]]]:
    """The page's tags and attribute names (values of class and id too), texts left out."""
    parser = TagCollector()
    parser.feed(scrub_tokens(body))
    return [
        (tag, tuple(sorted(f"{k}={v}" if k in ("class", "id") else k for k, v in attrs.items())))
        for tag, attrs in parser.tags
    ]


def test_checks_served_to_raters_are_blind(api_client, make_user, campaign, monkeypatch):
    campaign.name = "zeta-blind"
    campaign.gold_share = 0.5
    campaign.save()
    _neutral(campaign)
    gold = Comparison.objects.filter(campaign=campaign).order_by("id").first()
    comparison_mark_gold(comparison=gold, outcome=Outcome.CANDIDATE)
    attention_checks_create(campaign=campaign, count=1, seed=2)
    monkeypatch.setattr("evalhub.services.rating._system_rng", AlwaysGold())

    rater = make_user("blind-q", "rater")
    api_client.force_authenticate(rater)
    kinds, vote_keys = [], {}
    while (served := api_client.get(f"/api/v1/campaigns/{campaign.pk}/next")).status_code == 200:
        assert_blind_json(served, campaign, "GET next")
        assert set(served.json()) == {"token", "prompt", "left", "right", "expires_at"}
        comparison = Comparison.objects.get(assignments__token=served.json()["token"])
        kinds.append(comparison.gold_kind or "real")
        vote = api_client.post("/api/v1/votes", {"token": served.json()["token"], "choice": "tie"})
        assert vote.status_code == 201
        vote_keys.setdefault(kinds[-1], set(vote.json()))
        assert_blind_json(vote, campaign, "POST vote")
    assert vote_keys["gold"] == vote_keys["attention"] == vote_keys["real"]
    assert kinds[:2] == ["gold", "attention"] or kinds[:2] == ["attention", "gold"]
    # Every real comparison once, beside the two checks. The attention check came first, so
    # the rater met its prompt before its real pair, never after (a check is never served on a
    # prompt the rater has already been shown).
    assert kinds.count("real") == 5 and len(kinds) == 7

    # The vote page of a check and of an ordinary comparison, in the same state: the same tags,
    # classes and ids. A first page (guidelines open, no message) of a check against a first
    # page of a real item; then, after a vote, a check against real items.
    def pages_of(rater, draws: list[float]) -> list[tuple[str, list]]:
        monkeypatch.setattr("evalhub.services.rating._system_rng", Rolls(draws))
        client = Client()  # a fresh browser: no message left from another rater's vote
        client.force_login(rater)
        pages = []
        for _ in draws:
            page = client.get(f"/rate/{campaign.pk}/")
            assert page.status_code == 200
            assert_blind_page(page, campaign, "vote page")
            token = re.search(r'name="token" value="([^"]+)"', page.content.decode())[1]
            kind = Comparison.objects.get(assignments__token=token).gold_kind or "real"
            pages.append((kind, _skeleton(page.content.decode())))
            client.post(f"/rate/{campaign.pk}/vote", {"token": token, "choice": "tie"})
        return pages

    checks_first = pages_of(make_user("blind-q2", "rater"), [0.0, 0.0, 0.99, 0.99])
    (real_first,) = pages_of(make_user("blind-q3", "rater"), [0.99])
    assert sorted(kind for kind, _ in checks_first[:2]) == ["attention", "gold"]
    assert [kind for kind, _ in checks_first[2:]] == ["real", "real"] and real_first[0] == "real"
    assert checks_first[0][1] == real_first[1]
    assert checks_first[1][1] == checks_first[2][1] == checks_first[3][1]
