"""The agent's workbench pages, end to end over the Django test client with real generation
(the loopback OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import re

import pytest

from evalhub.models import Vote
from feedback.models import Conversation, WorkbenchTurn
from tests import test_feedback_helpers as helpers
from tests.test_feedback_helpers import push_conversations

# Fixtures shared with the other feedback tests (found by name).
agent, loopback, workbench = helpers.agent, helpers.loopback, helpers.workbench

pytestmark = pytest.mark.django_db


def token_of(body: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', body).group(1)


def test_agent_opens_picks_edits_and_sends(client, agent, workbench, loopback):
    first, second = push_conversations(workbench, 2)
    client.force_login(agent)
    queue = client.get("/workbench/")
    assert queue.status_code == 200
    assert "Where is parcel 0?" in queue.content.decode()

    opened = client.get("/workbench/next", follow=True)
    assert opened.redirect_chain[-1][0] == f"/workbench/c/{first.public_id}/"
    body = opened.content.decode()
    # In the page when ready within a moment; else the page's script fetches them (the first
    # call in a process imports the HTTP client, which can take seconds here).
    assert body.count('class="wb-card"') == 4 or "Writing suggestions" in body
    token = token_of(body)

    made = client.post(
        f"/workbench/c/{first.public_id}/suggestions",
        {"token": token},
        HTTP_ACCEPT="application/json",
    )
    assert made.status_code == 200, made.content
    assert made.json()["status"] == "ready"
    assert made.json()["html"].count('class="wb-card"') == 4
    assert loopback.chat_requests == 2  # one request per model, n = 2 each
    assert {b["n"] for b in loopback.bodies} == {2}

    turn = WorkbenchTurn.objects.get(token=token)
    assert sorted(turn.layout) == ["b", "b", "c", "c"]
    picked = turn.suggestions.get(slot=3)
    sent = client.post(
        f"/workbench/c/{first.public_id}/send",
        {
            "token": token,
            "slot": "3",
            "text": picked.output.text + " Kind regards.",
            "pick_ms": "1500",
        },
    )
    assert sent.status_code == 302 and sent["Location"] == "/workbench/next"
    turn.refresh_from_db()
    assert turn.status == "sent" and turn.picked_slot == 3
    assert turn.picked_source == picked.source
    assert turn.edit_distance == len(" Kind regards.")
    assert turn.time_to_pick_ms == 1500
    first.refresh_from_db()
    assert first.status == "sent" and first.reply_text.endswith("Kind regards.")
    vote = Vote.objects.get(kind="workbench")
    assert vote.outcome == picked.source and vote.choice == "3" and vote.rater == agent
    assert vote.source_key == f"workbench-turn:{turn.pk}"

    # The next conversation opens after sending; "none usable" with the agent's own words.
    following = client.get("/workbench/next", follow=True)
    assert following.redirect_chain[-1][0] == f"/workbench/c/{second.public_id}/"
    token = token_of(following.content.decode())
    client.post(f"/workbench/c/{second.public_id}/suggestions", {"token": token})
    client.post(
        f"/workbench/c/{second.public_id}/send",
        {"token": token, "slot": "none", "text": "I checked: it arrives tomorrow."},
    )
    assert (
        Vote.objects.get(
            source_key__endswith=str(WorkbenchTurn.objects.get(token=token).pk)
        ).outcome
        == "both_bad"
    )
    assert Conversation.objects.filter(status="sent").count() == 2
    done = client.get("/workbench/next", follow=True)
    assert "All caught up" in done.content.decode()


def test_the_queue_costs_the_same_queries_whatever_its_length(
    client, agent, workbench, django_assert_num_queries
):
    push_conversations(workbench, 2)
    client.force_login(agent)
    client.get("/workbench/")  # fills the permission cache
    with django_assert_num_queries(5) as few:
        assert client.get("/workbench/").content.decode().count('class="wb-item"') == 2
    push_conversations(workbench, 12, prefix="more")
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get("/workbench/").content.decode().count('class="wb-item"') == 14
