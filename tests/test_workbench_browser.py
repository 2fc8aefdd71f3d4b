"""The agent workbench in real headless Chromium, generation served over HTTP by the loopback
OpenAI-compatible server on 127.0.0.1: an agent works through three conversations with the
keyboard only (Enter, 1-4, n, typing, Ctrl+Enter); a product page sends a thumb with the
documented snippet; screenshots for the README."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from evalhub.models import Vote
from feedback.models import Conversation, Thumb, WorkbenchTurn
from feedback.services.workbench import (
    workbench_reply_send,
    workbench_suggestions_ensure,
    workbench_turn_open,
)
from tests import test_feedback_helpers as helpers
from tests.browser import PHONE, log_in, screenshot
from tests.factories import OutputFactory
from tests.test_feedback_helpers import feedback_campaign, product_user, push_conversations

loopback = helpers.loopback

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # Generous limits: these pages must work on a busy shared machine too.
    pytest.mark.usefixtures("patient_server"),
]
PASSWORD = "pw-secret-1"
SLOW_MS = 60_000


@pytest.fixture
def patient_server(live_server, browser_page, settings):
    """A warm live server (its first request loads every URL and the HTTP client: many seconds
    on a loaded machine) and a generous generation limit."""
    settings.FEEDBACK_WORKBENCH_TIMEOUT_S = 30
    browser_page.goto(f"{live_server.url}/accounts/login/", timeout=120_000)


def wait_for_suggestions(page) -> None:
    page.locator(".wb-card[data-key]").nth(3).wait_for(timeout=SLOW_MS)
    assert page.locator(".wb-card[data-key]").count() == 5  # 4 suggestions + "none usable"


def test_agent_works_through_three_conversations_with_the_keyboard(
    live_server, browser_page, make_user, loopback
):
    loopback.latency_s = 0.3
    campaign = feedback_campaign("workbench", name="kb", endpoint=loopback.base_url)
    conversations = push_conversations(campaign, 3)
    make_user("keyboard-agent", "agent", password=PASSWORD)
    page = browser_page
    log_in(page, live_server.url, "keyboard-agent", PASSWORD, next_path="/workbench/")
    assert "3 waiting" in page.content()
    screenshot(page, "workbench-queue.png")

    with page.expect_navigation():
        page.keyboard.press("Enter")  # "Open the oldest" has the focus
    assert page.url.endswith(f"/workbench/c/{conversations[0].public_id}/")
    wait_for_suggestions(page)

    # 1: pick suggestion 2, append to it, send with Ctrl+Enter.
    page.keyboard.press("2")
    assert page.locator("#reply").evaluate("el => el === document.activeElement")
    assert "is-picked" in page.locator('.wb-card[data-key="2"]').get_attribute("class")
    page.keyboard.type(" Thanks for waiting.")
    screenshot(page, "workbench.png")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    # The next conversation opens by itself.
    page.wait_for_url(f"**/workbench/c/{conversations[1].public_id}/")
    assert "Reply sent." in page.content()
    wait_for_suggestions(page)

    # 2: sending without a pick is stopped on the page; then 3, sent as it is.
    page.keyboard.press("Control+Enter")
    assert "Pick a suggestion" in page.locator("#send-error").inner_text()
    page.keyboard.press("3")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**/workbench/c/{conversations[2].public_id}/")
    wait_for_suggestions(page)

    # 3: none usable, the agent's own reply.
    page.keyboard.press("n")
    page.keyboard.type("Your parcel is at the depot; it will arrive tomorrow.")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    page.wait_for_url("**/workbench/")
    assert "All caught up" in page.content()

    turns = {t.conversation_id: t for t in WorkbenchTurn.objects.filter(status="sent")}
    first, second, third = (turns[c.pk] for c in conversations)
    assert (first.picked_slot, second.picked_slot, third.picked_slot) == (2, 3, None)
    assert first.edit_distance == len(" Thanks for waiting.") and second.edit_distance == 0
    assert third.none_usable and third.final_text.startswith("Your parcel is at the depot")
    assert all(t.time_to_pick_ms and t.time_to_pick_ms > 0 for t in (first, second))
    votes = {v.source_key: v.outcome for v in Vote.objects.filter(kind="workbench")}
    assert votes == {
        f"workbench-turn:{first.pk}": first.picked_source,
        f"workbench-turn:{second.pk}": second.picked_source,
        f"workbench-turn:{third.pk}": "both_bad",
    }
    assert Conversation.objects.filter(status="sent").count() == 3

    # A sent conversation shows the reply as sent.
    page.goto(f"{live_server.url}/workbench/c/{conversations[0].public_id}/")
    assert page.locator(".wb-msg-sent").inner_text().count("Thanks for waiting.") == 1


def test_the_pm_reads_the_workbench_figures(live_server, browser_page, make_user, loopback):
    """60 replies by two agents (seeded picks: the candidate's suggestion about 7 times in 10,
    some edited, a few none usable), then the PM's page."""
    rng = random.Random(7)
    loopback.latency_s = 0.3
    campaign = feedback_campaign("workbench", name="support-v2", endpoint=loopback.base_url)
    agents = [make_user(f"agent-{name}", "agent") for name in ("ana", "ben")]
    for number, conversation in enumerate(push_conversations(campaign, 60)):
        agent = agents[number % 2]
        turn = workbench_turn_open(conversation=conversation, agent=agent)
        turn = workbench_suggestions_ensure(turn=turn)
        sent_at = turn.shown_at + timedelta(seconds=rng.uniform(3, 40))
        if rng.random() < 0.08:
            workbench_reply_send(
                token=turn.token, agent=agent, none_usable=True, text="Own words.", now=sent_at
            )
            continue
        source = "candidate" if rng.random() < 0.72 else "baseline"
        suggestion = rng.choice(list(turn.suggestions.filter(source=source)))
        edit = " Kind regards, the support team." if rng.random() < 0.3 else ""
        workbench_reply_send(
            token=turn.token, agent=agent, slot=suggestion.slot, text=suggestion.output.text + edit,
            time_to_pick_ms=rng.randint(2000, 3000 if source == "candidate" else 6000), now=sent_at,
        )  # fmt: skip
    make_user("pm-screens", "pm", password=PASSWORD)
    log_in(browser_page, live_server.url, "pm-screens", PASSWORD,
           next_path=f"/feedback/workbench/{campaign.pk}/")  # fmt: skip
    body = browser_page.content()
    assert "Workbench support rate" in body and "60 replies" in body
    screenshot(browser_page, "workbench-dashboard.png")


def test_workbench_on_a_phone(live_server, new_browser_context, make_user, loopback):
    campaign = feedback_campaign("workbench", name="phone", endpoint=loopback.base_url)
    push_conversations(campaign, 1)
    make_user("phone-agent", "agent", password=PASSWORD)
    page = new_browser_context(viewport=PHONE, has_touch=True, is_mobile=True).new_page()
    log_in(page, live_server.url, "phone-agent", PASSWORD, next_path="/workbench/next")
    wait_for_suggestions(page)
    page.locator('.wb-card[data-key="1"]').tap()
    assert page.locator("#reply").input_value().strip()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "workbench-phone.png")
    with page.expect_navigation():
        page.get_by_role("button", name="Send reply").tap()
    assert WorkbenchTurn.objects.get().picked_slot == 1


def test_the_documented_snippet_sends_a_thumb_from_a_page(live_server, browser_page):
    from rest_framework.authtoken.models import Token

    campaign = feedback_campaign("thumbs", name="snip")
    output = OutputFactory(model_version=campaign.candidate)
    token = Token.objects.create(user=product_user("shop")).key
    page = browser_page
    page.goto(f"{live_server.url}/feedback/docs/thumbs/")
    snippet = page.locator("#snippet").inner_text()
    assert "function evalhubThumb" in snippet
    snippet = snippet.replace("https://evalhub.example.com", live_server.url).replace(
        "paste-the-feedback-token-here", token
    )
    body = page.evaluate(
        snippet + f"; evalhubThumb('up', {{output_id: {output.pk}, campaign: {campaign.pk}, "
        "channel: 'web', user: 'anon-1'})"
    )
    assert body["value"] == "up" and body["campaign"] == campaign.pk
    thumb = Thumb.objects.get()
    assert (thumb.output_id, thumb.channel, thumb.product_user_id) == (output.pk, "web", "anon-1")
    assert thumb.idempotency_key  # the snippet sends one per thumb
