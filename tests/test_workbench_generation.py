"""Live suggestions: both models asked at once (n = 2 each) over real HTTP on 127.0.0.1, a hard
time limit with a clear, blind message when generation is slow or down, balanced layouts, claims,
and the send rules (the agent's text survives a refused send)."""

from __future__ import annotations

import re
import socket
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from scipy.stats import chisquare

from evalhub.models import ModelVersion, Vote
from evalhub.services.errors import Conflict
from feedback.models import WorkbenchTurn
from feedback.services.suggestions import GenerationUnavailable
from feedback.services.workbench import (
    _random_layout,
    workbench_reply_send,
    workbench_suggestions_ensure,
    workbench_turn_open,
)
from tests import test_feedback_helpers as helpers
from tests.test_feedback_helpers import push_conversations

agent, loopback, workbench = helpers.agent, helpers.loopback, helpers.workbench
pytestmark = pytest.mark.django_db


def open_turn(workbench, agent):
    conversation = push_conversations(workbench, 1, prefix=agent.username)[0]
    return conversation, workbench_turn_open(conversation=conversation, agent=agent)


def test_both_models_are_asked_at_once(workbench, agent, loopback, make_user):
    # The first call in a process imports the HTTP client (seconds on a busy machine): warm up.
    workbench_suggestions_ensure(turn=open_turn(workbench, make_user("warm-up", "agent"))[1])
    loopback.reset_stats()
    loopback.latency_s = 1.0
    _, turn = open_turn(workbench, agent)
    started = time.perf_counter()
    turn = workbench_suggestions_ensure(turn=turn)
    elapsed = time.perf_counter() - started
    assert turn.status == "ready" and turn.suggestions.count() == 4
    assert loopback.max_in_flight == 2  # the two requests overlapped
    assert elapsed < 2.0, f"took {elapsed:.2f} s: one model after the other takes 2 s"
    assert [b["n"] for b in loopback.bodies] == [2, 2]
    assert {b["model"] for b in loopback.bodies} == {"wb-base", "wb-warm"}
    texts = list(turn.suggestions.values_list("output__text", flat=True))
    assert len(set(texts)) == 4


def test_greedy_settings_become_sampled_and_both_models_share_them(workbench, agent, loopback):
    ModelVersion.objects.filter(pk=workbench.baseline_id).update(temperature=0, max_tokens=64)
    ModelVersion.objects.filter(pk=workbench.candidate_id).update(temperature=1.3)
    workbench.refresh_from_db()
    _, turn = open_turn(workbench, agent)
    workbench_suggestions_ensure(turn=turn)
    sent = [(b["temperature"], b["max_tokens"], b.get("seed")) for b in loopback.bodies]
    assert sent == [(0.7, 64, None)] * 2


def warm_up(client, workbench) -> None:
    """Open and finish one conversation: the first call in a process imports the HTTP client."""
    conversation = push_conversations(workbench, 1, prefix="warm")[0]
    body = client.get(f"/workbench/c/{conversation.public_id}/").content.decode()
    token = re.search(r'name="token" value="([^"]+)"', body).group(1)
    client.post(f"/workbench/c/{conversation.public_id}/suggestions", {"token": token})


def test_suggestions_ready_within_a_moment_come_in_the_page(client, workbench, agent, loopback):
    second = push_conversations(workbench, 1)[0]
    client.force_login(agent)
    warm_up(client, workbench)
    loopback.latency_s = 0.2
    body = client.get(f"/workbench/c/{second.public_id}/").content.decode()
    assert body.count('class="wb-card"') == 4 and "Writing suggestions" not in body


@override_settings(FEEDBACK_WORKBENCH_INLINE_WAIT_S=0.05)
def test_the_page_shows_at_once_and_its_script_picks_up_the_same_generation(
    client, workbench, agent, loopback
):
    conversation = push_conversations(workbench, 1)[0]
    client.force_login(agent)
    warm_up(client, workbench)
    loopback.reset_stats()
    loopback.latency_s = 3.0
    started = time.perf_counter()
    page = client.get(f"/workbench/c/{conversation.public_id}/")
    assert time.perf_counter() - started < 2.5  # did not wait for the models
    body = page.content.decode()
    assert "Writing suggestions" in body and 'class="wb-card"' not in body
    answer = client.post(
        f"/workbench/c/{conversation.public_id}/suggestions",
        {"token": re.search(r'name="token" value="([^"]+)"', body).group(1)},
        HTTP_ACCEPT="application/json",
    )
    assert answer.json()["status"] == "ready"
    assert loopback.chat_requests == 2  # the generation the page started, not a second one


@override_settings(FEEDBACK_WORKBENCH_TIMEOUT_S=0.4)
def test_slow_generation_hits_the_hard_limit_and_the_agent_can_still_reply(
    client, workbench, agent, loopback
):
    loopback.latency_s = 6.0
    conversation = push_conversations(workbench, 1)[0]
    client.force_login(agent)
    page = client.get(f"/workbench/c/{conversation.public_id}/")
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    started = time.perf_counter()
    answer = client.post(
        f"/workbench/c/{conversation.public_id}/suggestions", {"token": token},
        HTTP_ACCEPT="application/json",
    )  # fmt: skip
    assert time.perf_counter() - started < 4.0  # the limit, not the models' 6 s
    assert answer.status_code == 503
    message = answer.json()["message"]
    assert "not available right now" in message and "0.4 s" in message
    assert "wb-" not in message and "127.0.0.1" not in message  # nothing about the models
    turn = WorkbenchTurn.objects.get(token=token)
    assert turn.status == "failed" and "timed out" in turn.error
    reloaded = client.get(f"/workbench/c/{conversation.public_id}/").content.decode()
    assert "Try again" in reloaded and "Write your own reply" in reloaded

    sent = client.post(
        f"/workbench/c/{conversation.public_id}/send", {"token": token, "text": "Checking now."}
    )
    assert sent.status_code == 302
    turn.refresh_from_db()
    conversation.refresh_from_db()
    assert conversation.status == "sent" and conversation.reply_text == "Checking now."
    assert turn.status == "sent" and turn.picked_slot is None and not turn.none_usable
    assert Vote.objects.count() == 0  # no suggestions were shown: counts nowhere


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@override_settings(FEEDBACK_WORKBENCH_TIMEOUT_S=1.0)
def test_generation_down_then_back(workbench, agent, loopback):
    url = loopback.base_url
    ModelVersion.objects.filter(pk=workbench.candidate_id).update(
        endpoint=f"http://127.0.0.1:{closed_port()}/v1"
    )
    workbench.refresh_from_db()
    _, turn = open_turn(workbench, agent)
    started = time.perf_counter()
    with pytest.raises(GenerationUnavailable) as failure:
        workbench_suggestions_ensure(turn=turn)
    assert time.perf_counter() - started < 3.0  # the 1 s limit, not the retries' backoff
    assert "not available right now" in failure.value.message
    turn.refresh_from_db()
    assert turn.status == "failed" and turn.error

    ModelVersion.objects.filter(pk=workbench.candidate_id).update(endpoint=url)
    turn = workbench_suggestions_ensure(turn=turn)  # "try again"
    assert turn.status == "ready" and turn.error == ""


def test_a_model_that_cannot_generate_is_reported_not_raised(workbench, agent):
    ModelVersion.objects.filter(pk=workbench.candidate_id).update(backend="imported")
    workbench.refresh_from_db()
    _, turn = open_turn(workbench, agent)
    with pytest.raises(GenerationUnavailable) as failure:
        workbench_suggestions_ensure(turn=turn)
    assert "imported" not in failure.value.message and "imported" in failure.value.reason


def test_unknown_served_model_fails_fast(workbench, agent, loopback):
    ModelVersion.objects.filter(pk=workbench.candidate_id).update(served_name="nope")
    workbench.refresh_from_db()
    _, turn = open_turn(workbench, agent)
    with pytest.raises(GenerationUnavailable):
        workbench_suggestions_ensure(turn=turn)
    assert "404" in WorkbenchTurn.objects.get(pk=turn.pk).error


def test_layouts_are_uniform_over_the_six():
    layouts = Counter("".join(s[0] for s, _ in _random_layout()) for _ in range(1200))
    assert set(layouts) == {"bbcc", "bcbc", "bccb", "cbbc", "cbcb", "ccbb"}
    assert chisquare(list(layouts.values())).pvalue > 1e-4
    samples = {
        tuple(sorted(i for s, i in _random_layout() if s == side))
        for side in ("baseline", "candidate")
    }
    assert samples == {(0, 1)}


def test_a_conversation_is_held_by_the_agent_who_opened_it(workbench, agent, make_user):
    conversation, turn = open_turn(workbench, agent)
    assert workbench_turn_open(conversation=conversation, agent=agent).pk == turn.pk
    other = make_user("agent2", "agent")
    with pytest.raises(Conflict):
        workbench_turn_open(conversation=conversation, agent=other)
    later = timezone.now() + timedelta(minutes=31)
    taken = workbench_turn_open(conversation=conversation, agent=other, now=later)
    turn.refresh_from_db()
    assert turn.status == "released" and taken.agent == other
    with pytest.raises(Exception, match="left your hands"):
        workbench_reply_send(token=turn.token, agent=agent, text="Hi", slot=None)


def test_refused_sends_keep_the_agents_text(client, workbench, agent, loopback, make_user):
    conversation, turn = open_turn(workbench, agent)
    workbench_suggestions_ensure(turn=turn)
    client.force_login(agent)
    url = f"/workbench/c/{conversation.public_id}/send"
    for slot in ("", "7"):
        refused = client.post(url, {"token": turn.token, "slot": slot, "text": "My draft words"})
        assert refused.status_code == 400
        body = refused.content.decode()
        assert "My draft words" in body and "none usable" in body
    # Picking without typing sends the suggestion as it is (edit distance 0).
    client.post(url, {"token": turn.token, "slot": "1", "text": ""})
    turn.refresh_from_db()
    assert turn.final_text == turn.suggestions.get(slot=1).output.text.strip()
    assert turn.edit_distance == 0
    again = client.post(url, {"token": turn.token, "slot": "2", "text": "x"}, follow=True)
    assert "already sent" in again.content.decode()
    assert Vote.objects.count() == 1
    client.force_login(make_user("agent3", "agent"))
    foreign = client.post(url, {"token": turn.token, "slot": "2", "text": "x"}, follow=True)
    assert foreign.status_code == 200 and Vote.objects.count() == 1
