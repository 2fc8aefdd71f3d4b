"""Blindness (DESIGN section 6) of everything an agent receives: the queue, the conversation page
(before, with and after suggestions; failed generation; refused and sent replies), the
suggestions JSON, flash messages and error pages. No model name, served name, campaign name,
internal id or source word anywhere; classes and ids say where a thing is, never what it is."""

from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings

from evalhub.models import Campaign
from feedback.models import WorkbenchTurn
from tests import test_feedback_helpers as helpers
from tests.test_feedback_helpers import (
    assert_blind_json,
    assert_blind_page,
    assert_blind_text,
    feedback_campaign,
    push_conversations,
)

agent, loopback, workbench = helpers.agent, helpers.loopback, helpers.workbench
pytestmark = pytest.mark.django_db


def tokens() -> list[str]:
    return list(WorkbenchTurn.objects.values_list("token", flat=True))


def token_in(body: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', body).group(1)


def test_agent_pages_and_json_are_blind(client, agent, workbench, loopback, make_user):
    first, second, third = push_conversations(workbench, 3)
    client.force_login(agent)
    base = f"/workbench/c/{first.public_id}/"
    seen: dict[str, str] = {"queue": client.get("/workbench/").content.decode()}
    opened = client.get(base)
    seen["conversation before suggestions"] = opened.content.decode()
    token = token_in(seen["conversation before suggestions"])
    made = client.post(base + "suggestions", {"token": token}, HTTP_ACCEPT="application/json")
    assert set(made.json()) == {"status", "html"}
    assert_blind_json(made.content.decode(), workbench, "suggestions JSON", tokens())
    seen["suggestions fragment"] = made.json()["html"]
    seen["conversation with suggestions"] = client.get(base).content.decode()
    seen["refused send"] = client.post(
        base + "send", {"token": token, "text": "draft"}
    ).content.decode()
    seen["sent, next opens"] = client.post(
        base + "send", {"token": token, "slot": "2", "text": ""}, follow=True
    ).content.decode()
    seen["sent conversation"] = client.get(base).content.decode()
    seen["double send"] = client.post(
        base + "send", {"token": token, "slot": "1", "text": "x"}, follow=True
    ).content.decode()
    seen["unknown token"] = client.post(
        f"/workbench/c/{second.public_id}/send", {"token": "nope", "slot": "1", "text": "x"},
        follow=True,
    ).content.decode()  # fmt: skip
    with override_settings(FEEDBACK_WORKBENCH_TIMEOUT_S=0.3):
        loopback.latency_s = 2.0
        third_page = client.get(f"/workbench/c/{third.public_id}/").content.decode()
        failed = client.post(
            f"/workbench/c/{third.public_id}/suggestions", {"token": token_in(third_page)},
            HTTP_ACCEPT="application/json",
        )  # fmt: skip
        loopback.latency_s = 0.0
    assert failed.status_code == 503
    assert_blind_json(failed.content.decode(), workbench, "failed suggestions JSON", tokens())
    seen["failed generation page"] = client.get(f"/workbench/c/{third.public_id}/").content.decode()
    seen["missing conversation"] = client.get(
        "/workbench/c/00000000-0000-4000-8000-000000000000/"
    ).content.decode()
    seen["not a uuid"] = client.get("/workbench/c/123/").content.decode()
    client.force_login(make_user("agent-b", "agent"))
    seen["held by another agent"] = client.get(f"/workbench/c/{second.public_id}/").content.decode()
    client.force_login(make_user("rater-b", "rater"))
    seen["not an agent"] = client.get("/workbench/").content.decode()
    for where, body in seen.items():
        assert_blind_page(body, workbench, where, tokens())

    # Both answers' texts are in the suggestions; each shown once, all four at once.
    turn = WorkbenchTurn.objects.get(token=token)
    for suggestion in turn.suggestions.all():
        assert seen["suggestions fragment"].count(suggestion.output.text.split(".")[0]) >= 1
    assert seen["suggestions fragment"].count('class="wb-card"') == 4


def test_a_pooled_queue_looks_missing_to_outsiders(client, agent, make_user, loopback):
    insider = make_user("insider", "agent")
    pooled = feedback_campaign(
        "workbench", name="pool", endpoint=loopback.base_url, raters=[insider]
    )
    conversation = push_conversations(pooled, 1)[0]
    client.force_login(agent)
    assert "Where is parcel" not in client.get("/workbench/").content.decode()
    page = client.get(f"/workbench/c/{conversation.public_id}/")
    assert page.status_code == 404
    assert_blind_page(page.content.decode(), pooled, "outsider", tokens())
    client.force_login(insider)
    assert client.get(f"/workbench/c/{conversation.public_id}/").status_code == 200


def test_the_checks_catch_leaks(workbench):
    campaign = Campaign.objects.get(pk=workbench.pk)
    for leak in (f"<p>{campaign.candidate.name}</p>", "<p>wb-warm</p>", '{"output_id": 3}',
                 '<div class="wb-card wb-card-candidate"></div>', "<p>source: b</p>"):  # fmt: skip
        with pytest.raises(AssertionError):
            assert_blind_page(leak, campaign, "probe", [])
    with pytest.raises(AssertionError):
        assert_blind_page('<div data-key="1" data-slot="17"></div>', campaign, "probe", [])
    with pytest.raises(AssertionError):
        assert_blind_json(json.dumps({"html": "x", "source": "c"}), campaign, "probe", [])
    with pytest.raises(AssertionError):
        assert_blind_text("layout cbbc", campaign, "probe", [])
