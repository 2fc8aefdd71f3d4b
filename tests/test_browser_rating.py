"""The rater's pages in real headless Chromium: sign in, vote with the keyboard, phone layout."""

from __future__ import annotations

import pytest

from evalhub.models import Campaign, Comparison, Vote
from evalhub.services.campaigns import campaign_create, campaign_open
from tests.browser import PHONE, log_in, screenshot
from tests.factories import (
    ModelVersionFactory,
    OutputFactory,
    PromptFactory,
    open_campaign_with_outputs,
)

# The shared Playwright fixtures (pytest finds fixtures by their name in the test module).

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-secret-1"


def shown_outcome(choice: str, left_text: str, right_text: str) -> str:
    """What a choice means, read from the answers on screen (the factory's texts say which)."""
    if choice in ("tie", "both_bad"):
        return choice
    picked = left_text if choice == "left" else right_text
    assert picked.startswith(("Candidate reply", "Baseline reply")), picked
    return "candidate" if picked.startswith("Candidate") else "baseline"


def test_rater_votes_through_a_campaign_with_the_keyboard(live_server, browser_page, make_user):
    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=1, name="keys")
    make_user("keyboard-rater", password=PASSWORD)
    page = browser_page
    log_in(page, live_server.url, "keyboard-rater", PASSWORD, next_path="/rate/")
    assert page.url == f"{live_server.url}/rate/"
    assert campaign.display_title in page.content()
    with page.expect_navigation():
        page.get_by_role("link", name="Start rating").click()

    # Guidelines start open for a first vote; "?" folds them away and opens them again.
    guidelines = page.locator("#guidelines")
    assert guidelines.evaluate("el => el.open") is True
    page.keyboard.press("?")
    assert guidelines.evaluate("el => el.open") is False
    page.keyboard.press("?")
    assert guidelines.evaluate("el => el.open") is True

    expected: dict[str, tuple[str, str, str]] = {}
    for number, (key, choice) in enumerate([("1", "left"), ("2", "right"), ("3", "tie")]):
        token = page.locator('input[name="token"]').input_value()
        left = page.locator(".answer-left .md").inner_text().strip()
        right = page.locator(".answer-right .md").inner_text().strip()
        assert left != right
        reason = ""
        if number == 0:
            # Shortcut keys typed into the reason box are text, not votes.
            reason = "1 2 3 t b s ? clearer steps"
            page.locator("#reason").click()
            page.keyboard.type(reason)
            assert page.locator('input[name="token"]').input_value() == token
            assert Vote.objects.count() == 0
            page.keyboard.press("Escape")  # leave the box; the keys vote again
        with page.expect_navigation():
            page.keyboard.press(key)
        assert page.locator(".message.success").inner_text() == "Vote recorded."
        expected[token] = (choice, shown_outcome(choice, left, right), reason)
        assert f"You have rated {number + 1} in this campaign." in page.content()

    assert page.get_by_role("heading", name="All done").is_visible()
    assert page.get_by_role("link", name="Back to your campaigns").is_visible()
    stored = {
        vote.assignment.token: (vote.choice, vote.outcome, vote.reason)
        for vote in Vote.objects.select_related("assignment")
    }
    assert stored == expected


def showcase_campaign() -> Campaign:
    """A realistic pair for the README screenshots (markdown, a system prompt, a short history)."""
    base = ModelVersionFactory(name="support-base")
    tuned = ModelVersionFactory(name="support-dpo-r2", parent=base, method="dpo")
    prompt = PromptFactory(
        system="You are the support assistant of an online bookshop. Be brief and kind.",
        history=[["Hi, my order hasn't arrived.", "Sorry to hear that! What is the order number?"]],
        instruction="It's **#40213**. It was due last Tuesday. Can I get a refund?",
    )
    OutputFactory(
        prompt=prompt,
        model_version=base,
        text=(
            "Refunds are possible for orders that have not arrived. Please fill in the refund "
            "form on our website and attach your order confirmation. Refunds take 5-10 business "
            "days to process once approved."
        ),
    )
    OutputFactory(
        prompt=prompt,
        model_version=tuned,
        text=(
            "I'm sorry your order **#40213** is late. Two options:\n\n"
            "1. **Wait 3 more days**: the courier shows it *in transit*; I'll add free express "
            "shipping to your next order.\n"
            "2. **Refund now**: reply *refund* and the money is back on your card within "
            "5 business days.\n\n"
            "Which would you prefer?"
        ),
    )
    campaign = campaign_create(
        name="support: dpo-r2 vs base",
        rater_title="Bookshop support replies",
        baseline=base,
        candidate=tuned,
        prompts=[prompt],
        votes_per_prompt=3,
        guidelines=(
            "Pick the answer a customer would rather receive.\n\n"
            "- **Correct** first, then **helpful**, then **clear and kind**.\n"
            "- Length is not a virtue in itself.\n"
            "- Use *Both bad* when neither answer could be sent as is."
        ),
    )
    campaign_open(campaign=campaign)
    Comparison.objects.filter(campaign=campaign).update(side_seed=0)  # same screenshot each run
    return campaign


def test_vote_page_on_desktop_and_phone(live_server, new_browser_context, make_user):
    campaign = showcase_campaign()
    make_user("screen-rater", password=PASSWORD)
    vote_path = f"/rate/{campaign.pk}/"

    desktop = new_browser_context().new_page()
    log_in(desktop, live_server.url, "screen-rater", PASSWORD, next_path=vote_path)
    left, right = desktop.locator(".answer-left"), desktop.locator(".answer-right")
    left_box, right_box = left.bounding_box(), right.bounding_box()
    assert right_box["x"] > left_box["x"] + left_box["width"] - 1  # side by side
    assert abs(left_box["y"] - right_box["y"]) < 1
    screenshot(desktop, "rate-desktop.png")

    phone = new_browser_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    ).new_page()
    log_in(phone, live_server.url, "screen-rater", PASSWORD, next_path=vote_path)
    left, right = phone.locator(".answer-left"), phone.locator(".answer-right")
    assert left.is_visible() and right.is_visible()
    left_box, right_box = left.bounding_box(), right.bounding_box()
    assert right_box["y"] >= left_box["y"] + left_box["height"]  # stacked, left on top
    assert abs(left_box["x"] - right_box["x"]) < 1
    assert left_box["width"] <= PHONE["width"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for button in phone.locator("button.choice").all():
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 120, box  # thumb-sized
    assert phone.locator(".answer-left .narrow-only").is_visible()  # "Left answer (top)"
    assert not desktop.locator(".answer-left .narrow-only").is_visible()
    screenshot(phone, "rate-phone.png")

    # The same pair on both screens (a reload never reshuffles) and nothing voted by looking.
    assert (
        desktop.locator('input[name="token"]').input_value()
        == phone.locator('input[name="token"]').input_value()
    )
    assert Vote.objects.count() == 0
