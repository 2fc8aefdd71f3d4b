"""The rater API: next assignment, vote, idempotency, bad input, balance."""

from __future__ import annotations

import pytest

from evalhub.models import Assignment, Comparison, Vote

pytestmark = pytest.mark.django_db


def test_next_then_vote_records_outcome_from_side(rater_api, open_campaign):
    response = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "prompt", "left", "right", "expires_at"}
    assignment = Assignment.objects.get(token=body["token"])
    candidate_text = assignment.comparison.candidate_output.text
    choice = "left" if body["left"]["text"] == candidate_text else "right"

    response = rater_api.post(
        "/api/v1/votes", {"token": body["token"], "choice": choice}, format="json"
    )
    assert response.status_code == 201, response.content
    vote = Vote.objects.get()
    assert vote.outcome == "candidate"
    assert vote.candidate_side == assignment.candidate_side
    assert Comparison.objects.get(pk=assignment.comparison_id).vote_count == 1


def test_reload_returns_same_live_assignment(rater_api, open_campaign):
    first = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()
    second = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()
    assert first["token"] == second["token"]
    assert Assignment.objects.count() == 1


def test_rater_gets_each_comparison_once_then_204(rater_api, open_campaign):
    seen = set()
    for _ in range(4):
        body = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()
        seen.add(Assignment.objects.get(token=body["token"]).comparison_id)
        assert (
            rater_api.post("/api/v1/votes", {"token": body["token"], "choice": "tie"}).status_code
            == 201
        )
    assert len(seen) == 4
    assert rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").status_code == 204


def test_double_submit_is_rejected_and_stores_nothing(rater_api, open_campaign):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    assert rater_api.post("/api/v1/votes", {"token": token, "choice": "left"}).status_code == 201
    again = rater_api.post("/api/v1/votes", {"token": token, "choice": "right"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_voted"
    assert Vote.objects.count() == 1


def test_idempotency_key_replays_first_result(rater_api, open_campaign):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-123"}
    first = rater_api.post(
        "/api/v1/votes", {"token": token, "choice": "left"}, format="json", **headers
    )
    retry = rater_api.post(
        "/api/v1/votes", {"token": token, "choice": "left"}, format="json", **headers
    )
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Vote.objects.count() == 1
    other = rater_api.post(
        "/api/v1/votes", {"token": token, "choice": "right"}, format="json", **headers
    )
    assert other.status_code == 422


@pytest.mark.parametrize("choice", ["up", "", "LEFT", "candidate"])
def test_unknown_choice_is_400(rater_api, open_campaign, choice):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    response = rater_api.post("/api/v1/votes", {"token": token, "choice": choice}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Vote.objects.count() == 0


def test_foreign_token_is_404_and_changes_nothing(api_client, make_user, open_campaign):
    alice, bob = make_user("alice"), make_user("bob")
    api_client.force_authenticate(alice)
    token = api_client.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    api_client.force_authenticate(bob)
    response = api_client.post("/api/v1/votes", {"token": token, "choice": "left"}, format="json")
    assert response.status_code == 404
    assert Vote.objects.count() == 0
    assert Assignment.objects.get(token=token).status == "served"


def test_expired_token_is_410(rater_api, open_campaign, settings):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    Assignment.objects.filter(token=token).update(expires_at="2000-01-01T00:00:00Z")
    response = rater_api.post("/api/v1/votes", {"token": token, "choice": "left"}, format="json")
    assert response.status_code == 410
    assert Vote.objects.count() == 0


def test_expired_reservation_frees_the_slot(api_client, make_user):
    from tests.factories import open_campaign_with_outputs

    campaign = open_campaign_with_outputs(n_prompts=1, votes_per_prompt=1)
    a, b = make_user("a"), make_user("b")
    api_client.force_authenticate(a)
    token = api_client.get(f"/api/v1/campaigns/{campaign.id}/next").json()["token"]
    api_client.force_authenticate(b)
    assert api_client.get(f"/api/v1/campaigns/{campaign.id}/next").status_code == 204
    Assignment.objects.filter(token=token).update(expires_at="2000-01-01T00:00:00Z")
    assert api_client.get(f"/api/v1/campaigns/{campaign.id}/next").status_code == 200
    assert Comparison.objects.get().load == 1


def test_positions_are_balanced_over_raters(api_client, make_user):
    from tests.factories import open_campaign_with_outputs

    campaign = open_campaign_with_outputs(n_prompts=10, votes_per_prompt=4)
    for i in range(4):
        api_client.force_authenticate(make_user(f"r{i}"))
        while (r := api_client.get(f"/api/v1/campaigns/{campaign.id}/next")).status_code == 200:
            api_client.post("/api/v1/votes", {"token": r.json()["token"], "choice": "tie"})
    sides = list(Assignment.objects.values_list("candidate_side", flat=True))
    assert len(sides) == 40
    assert sides.count("left") == 20  # alternating from a random start: exactly balanced per item


def test_non_rater_gets_403(api_client, pm, open_campaign):
    api_client.force_authenticate(pm)
    assert api_client.get(f"/api/v1/campaigns/{open_campaign.id}/next").status_code == 403


def test_unauthenticated_gets_401_json(api_client, open_campaign):
    response = api_client.get(f"/api/v1/campaigns/{open_campaign.id}/next")
    assert response.status_code == 401
    assert "error" in response.json()


def test_token_auth_works(api_client, make_user, open_campaign):
    from rest_framework.authtoken.models import Token

    user = make_user("scripted")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    assert api_client.get(f"/api/v1/campaigns/{open_campaign.id}/next").status_code == 200


def test_vote_can_return_the_next_assignment(rater_api, open_campaign):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    tokens = [token]
    for _ in range(3):
        body = {"token": tokens[-1], "choice": "tie", "next": True}
        response = rater_api.post("/api/v1/votes", body, format="json")
        assert response.status_code == 201
        tokens.append(response.json()["next"]["token"])
    last = rater_api.post(
        "/api/v1/votes", {"token": tokens[-1], "choice": "tie", "next": True}, format="json"
    )
    assert last.json()["next"] is None
    assert len(set(tokens)) == 4 and Vote.objects.count() == 4


def test_vote_without_next_has_no_next_key(rater_api, open_campaign):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    body = rater_api.post("/api/v1/votes", {"token": token, "choice": "tie"}, format="json").json()
    assert "next" not in body
