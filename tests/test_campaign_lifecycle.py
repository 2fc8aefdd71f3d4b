"""Campaign lifecycle through the service, the CLI and the API."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from evalhub.models import Campaign, Comparison
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.errors import Conflict, InvalidInput
from tests.factories import ModelVersionFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db


def _models():
    base = ModelVersionFactory(name="base")
    return base, ModelVersionFactory(name="cand", parent=base)


def test_open_reports_missing_outputs_and_adds_later():
    base, cand = _models()
    complete, half = PromptFactory(), PromptFactory(external_id="half")
    OutputFactory(prompt=complete, model_version=base)
    OutputFactory(prompt=complete, model_version=cand)
    OutputFactory(prompt=half, model_version=base)
    campaign = campaign_create(name="c", baseline=base, candidate=cand, prompts=[complete, half])
    result = campaign_open(campaign=campaign)
    assert result.comparisons_created == 1
    assert [(m.external_id, m.missing) for m in result.missing] == [("half", ("candidate",))]
    OutputFactory(prompt=half, model_version=cand)
    again = campaign_open(campaign=campaign)
    assert (again.comparisons_created, again.comparisons_total, again.missing) == (1, 2, [])
    assert Comparison.objects.filter(campaign=campaign).count() == 2


def test_create_rejects_bad_input():
    base, cand = _models()
    with pytest.raises(InvalidInput):
        campaign_create(name="x", baseline=base, candidate=base)
    with pytest.raises(InvalidInput):
        campaign_create(name="x", baseline=base, candidate=cand, votes_per_prompt=0)
    campaign_create(name="x", baseline=base, candidate=cand)
    with pytest.raises(Conflict):
        campaign_create(name="x", baseline=base, candidate=cand)
    assert Campaign.objects.count() == 1


def test_cli_create_open_close(capsys):
    base, cand = _models()
    prompt = PromptFactory()
    OutputFactory(prompt=prompt, model_version=base)
    OutputFactory(prompt=prompt, model_version=cand)
    call_command(
        "create_campaign",
        "cli",
        "--baseline",
        "base",
        "--candidate",
        "cand",
        "--all-prompts",
        "--open",
    )
    out = capsys.readouterr().out
    assert "1 new comparisons" in out
    assert Campaign.objects.get(name="cli").status == "open"
    call_command("close_campaign", "cli")
    assert Campaign.objects.get(name="cli").status == "closed"
    with pytest.raises(CommandError, match="already closed"):
        call_command("close_campaign", "cli")
    with pytest.raises(CommandError, match="No campaign"):
        call_command("open_campaign", "nope")


def test_cli_unknown_model_is_clear_error():
    with pytest.raises(CommandError, match="No model version named 'ghost'"):
        call_command(
            "create_campaign", "x", "--baseline", "ghost", "--candidate", "g2", "--all-prompts"
        )


def test_api_create_open_close(api_client, pm):
    base, cand = _models()
    prompt = PromptFactory(external_id="p1")
    OutputFactory(prompt=prompt, model_version=base)
    OutputFactory(prompt=prompt, model_version=cand)
    api_client.force_authenticate(pm)
    created = api_client.post(
        "/api/v1/campaigns",
        {"name": "api", "baseline": "base", "candidate": "cand", "prompt_external_ids": ["p1"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    cid = created.json()["id"]
    opened = api_client.post(f"/api/v1/campaigns/{cid}/open")
    assert opened.status_code == 200
    assert opened.json()["comparisons_created"] == 1
    assert api_client.post(f"/api/v1/campaigns/{cid}/close").json()["status"] == "closed"
    again = api_client.post(f"/api/v1/campaigns/{cid}/close")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_api_create_validation_errors(api_client, pm):
    _models()
    api_client.force_authenticate(pm)
    same = api_client.post(
        "/api/v1/campaigns", {"name": "s", "baseline": "base", "candidate": "base"}
    )
    assert same.status_code == 400
    unknown = api_client.post(
        "/api/v1/campaigns", {"name": "s", "baseline": "base", "candidate": "zzz"}
    )
    assert unknown.status_code == 400 and "candidate" in unknown.json()["error"]["message"]
    assert Campaign.objects.count() == 0


def test_rater_cannot_manage_campaigns(rater_api):
    assert rater_api.get("/api/v1/campaigns").status_code == 403
    assert rater_api.post("/api/v1/campaigns", {"name": "x"}).status_code == 403


def test_closed_campaign_refuses_next_and_votes(rater_api, open_campaign):
    token = rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").json()["token"]
    call_command("close_campaign", str(open_campaign.id))
    assert rater_api.get(f"/api/v1/campaigns/{open_campaign.id}/next").status_code == 409
    response = rater_api.post("/api/v1/votes", {"token": token, "choice": "left"})
    assert response.status_code == 409
