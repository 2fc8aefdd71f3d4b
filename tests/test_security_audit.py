"""The audit trail: who changed campaigns, votes and model versions, through which door (admin,
api, cli, page), with the fields before and after. Written in the change's own transaction."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from evalhub.models import AuditEvent, Campaign, ModelVersion, Vote
from evalhub.services import audit as audit_service
from evalhub.services.campaigns import campaign_close
from evalhub.services.errors import Conflict
from evalhub.services.rating import assignment_next, vote_correct, vote_record
from tests.factories import ModelVersionFactory, open_campaign_with_outputs

pytestmark = pytest.mark.django_db


def events(**filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def token_client(user) -> APIClient:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    return client


def test_campaign_lifecycle_through_the_api_names_the_user_and_the_api(pm):
    base, candidate = ModelVersionFactory(name="audit-base"), ModelVersionFactory(name="audit-cand")
    api = token_client(pm)  # token auth: the user is known only inside DRF's view
    created = api.post(
        "/api/v1/campaigns",
        {"name": "audited", "baseline": base.name, "candidate": candidate.name},
        format="json",
    )
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    assert api.post(f"/api/v1/campaigns/{campaign_id}/open").status_code == 200
    assert api.post(f"/api/v1/campaigns/{campaign_id}/close").status_code == 200

    trail = events(object_type="campaign", object_id=str(campaign_id))
    assert [e.action for e in trail] == ["campaign.create", "campaign.open", "campaign.close"]
    assert {(e.actor_id, e.actor_name, e.via) for e in trail} == {(pm.pk, pm.username, "api")}
    create, opened, closed = trail
    assert create.before == {} and create.after["name"] == "audited"
    assert create.after["baseline_id"] == base.pk and create.after["status"] == "draft"
    assert opened.before == {"status": "draft", "opened_at": None}
    assert opened.after["status"] == "open" and opened.after["opened_at"]
    assert "0 comparisons created" in opened.note
    assert closed.before == {"status": "open", "closed_at": None}
    assert closed.after["status"] == "closed" and closed.after["closed_at"]


def test_pages_are_attributed_to_the_signed_in_user(pm):
    campaign = open_campaign_with_outputs(n_prompts=2, name="paged")
    client = Client()
    client.force_login(pm)
    assert client.post(f"/campaigns/{campaign.pk}/close").status_code == 302
    assert client.post(f"/campaigns/{campaign.pk}/open").status_code == 302
    trail = events(object_type="campaign", object_id=str(campaign.pk), via="page")
    assert [(e.action, e.actor_id) for e in trail] == [
        ("campaign.close", pm.pk),
        ("campaign.open", pm.pk),
    ]
    assert trail[1].before == {"status": "closed", "closed_at": trail[0].after["closed_at"]}


def test_command_line_changes_name_the_command():
    call_command("register_model", "cli-base", "--backend", "imported")
    call_command("register_model", "cli-adapter", "--parent", "cli-base")
    [first, second] = events(action="modelversion.create")
    assert (first.via, first.actor, first.object_repr) == ("cli", None, "cli-base")
    assert first.actor_name  # the program that ran (manage.py <command> from a shell)
    assert second.after["parent_id"] == first.after["id"] and second.after["method"] == "lora"


def test_the_command_name_is_recorded(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/srv/evalhub/manage.py", "close_campaign", "x"])
    campaign = open_campaign_with_outputs(n_prompts=1, name="cli")
    campaign_close(campaign=campaign)
    [closed] = events(action="campaign.close")
    assert (closed.via, closed.actor_name) == ("cli", "manage.py close_campaign")


def test_model_versions_through_the_api_and_the_admin(make_user, pm):
    api = token_client(pm)
    response = api.post(
        "/api/v1/models", {"name": "api-model", "backend": "imported"}, format="json"
    )
    assert response.status_code == 201, response.content
    [registered] = events(action="modelversion.create")
    assert (registered.via, registered.actor_id) == ("api", pm.pk)
    assert registered.after["name"] == "api-model" and registered.after["backend"] == "imported"

    admin_user = make_user("audit-admin", "admin")
    client = Client()
    client.force_login(admin_user)
    model = ModelVersion.objects.get(name="api-model")
    change = client.post(
        f"/admin/evalhub/modelversion/{model.pk}/change/",
        {"name": "api-model", "backend": "imported", "method": "base", "temperature": "0.2",
         "top_p": "1.0", "max_tokens": "256", "description": "tuned"},
    )  # fmt: skip
    assert change.status_code == 302, change.content.decode()[:2000]
    [changed] = events(action="modelversion.change")
    assert (changed.via, changed.actor_id) == ("admin", admin_user.pk)
    assert changed.before == {"temperature": 0.7, "description": ""}
    assert changed.after == {"temperature": 0.2, "description": "tuned"}

    delete = client.post(f"/admin/evalhub/modelversion/{model.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 302 and not ModelVersion.objects.filter(pk=model.pk).exists()
    [deleted] = events(action="modelversion.delete")
    assert deleted.before["name"] == "api-model" and deleted.after == {}
    assert deleted.object_id == str(model.pk) and deleted.via == "admin"


def test_admin_campaign_edits_and_actions(make_user, rater):
    campaign = open_campaign_with_outputs(n_prompts=2, name="adm")
    admin_user = make_user("audit-admin", "admin")
    client = Client()
    client.force_login(admin_user)
    form = {
        "name": campaign.name, "rater_title": "Support replies", "kind": "pairwise",
        "baseline": campaign.baseline_id, "candidate": campaign.candidate_id,
        "votes_per_prompt": "5", "tie_policy": "exclude", "guidelines": campaign.guidelines,
        "raters": [rater.pk], "prompts": ",".join(str(p) for p in campaign.prompts.values_list("pk", flat=True)),
        "gold_share": "0", "gold_min_accuracy": "0.7", "gold_min_answers": "3",
    }  # fmt: skip
    response = client.post(f"/admin/evalhub/campaign/{campaign.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    changes = events(action="campaign.change", object_id=str(campaign.pk))
    assert [e.via for e in changes] == ["admin", "admin"]
    fields, members = changes
    assert fields.before == {"rater_title": "", "votes_per_prompt": 2}
    assert fields.after == {"rater_title": "Support replies", "votes_per_prompt": 5}
    assert members.before == {"raters": []} and members.after == {"raters": [rater.username]}

    action = client.post(
        "/admin/evalhub/campaign/",
        {"action": "close_campaigns", "_selected_action": [campaign.pk]},
    )
    assert action.status_code == 302
    [closed] = events(action="campaign.close")
    assert (closed.via, closed.actor_id) == ("admin", admin_user.pk)


def test_vote_corrections_are_audited_with_the_corrector(make_user, rater):
    campaign = open_campaign_with_outputs(n_prompts=1, name="votes")
    token = assignment_next(campaign=campaign, rater=rater).token
    original = vote_record(rater=rater, token=token, choice="left", reason="first")
    pm = make_user("corrector", "pm")
    corrected = vote_correct(vote=original, choice="tie", corrected_by=pm, reason="misclick")
    [event] = events(action="vote.correct")
    assert (event.actor_id, event.object_id) == (pm.pk, str(corrected.pk))
    assert event.before["vote_id"] == original.pk and event.after["vote_id"] == corrected.pk
    assert event.before["choice"] == "left" and event.after["choice"] == "tie"
    assert event.before["reason"] == "first" and event.after["reason"] == "misclick"
    assert AuditEvent.objects.filter(object_type="vote").count() == 1  # ordinary votes: not copied


def test_a_failed_change_leaves_no_event_and_a_failed_event_leaves_no_change(monkeypatch):
    campaign = open_campaign_with_outputs(n_prompts=1, name="atomic")
    campaign_close(campaign=campaign)
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        campaign_close(campaign=campaign)  # already closed: nothing changes, nothing recorded
    assert AuditEvent.objects.count() == before

    def broken(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("evalhub.services.campaigns.audit_record", broken)
    from evalhub.services.campaigns import campaign_open

    with pytest.raises(RuntimeError):
        campaign_open(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == "closed"  # rolled back with the event


def test_the_admin_shows_the_trail_read_only(make_user, pm):
    campaign = open_campaign_with_outputs(n_prompts=1, name="ro")
    campaign_close(campaign=campaign)
    event = AuditEvent.objects.latest("id")
    for user in (make_user("audit-admin", "admin"), pm):
        client = Client()
        client.force_login(user)
        listing = client.get("/admin/evalhub/auditevent/")
        assert listing.status_code == 200 and "campaign.close" in listing.content.decode()
        assert client.get(f"/admin/evalhub/auditevent/{event.pk}/change/").status_code == 200
        assert client.get("/admin/evalhub/auditevent/add/").status_code == 403
        tampered = client.post(
            f"/admin/evalhub/auditevent/{event.pk}/change/", {"action": "nothing.happened"}
        )
        assert tampered.status_code in (302, 403)
        assert (
            client.post(
                f"/admin/evalhub/auditevent/{event.pk}/delete/", {"post": "yes"}
            ).status_code
            == 403
        )
    event.refresh_from_db()
    assert event.action == "campaign.close"
    raters = Client()
    raters.force_login(make_user("nosy-rater", "rater"))
    assert raters.get("/admin/evalhub/auditevent/").status_code == 302  # not staff: admin login


def test_context_rules():
    with pytest.raises(ValueError), audit_service.audit_context(via="email"):
        pass
    assert audit_service.audit_via_for_path("/admin/x") == "admin"
    assert audit_service.audit_via_for_path("/api/v1/votes") == "api"
    assert audit_service.audit_via_for_path("/campaigns/1/open") == "page"
    assert Vote.objects.count() == 0
