"""Blindness (DESIGN section 6): nothing a rater receives names or hints at the model.

Every rater-facing page (campaign list, vote page, all-done page, error pages, flash messages
after a vote or skip) and every rater API response is checked for: model names and their
pieces, the campaign's internal name, comparison public ids (both UUID spellings), JSON keys or
attributes that could carry internal ids (``id``, ``output``, ``model``, ``model_version``, ...),
``/models/3``-style paths, ``"model_version": 3``-style pairs, and class or id attributes that
say anything but a position. Answer texts are made neutral first, so the words "candidate" and
"baseline" may be banned from the whole response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from evalhub.models import Assignment, Campaign, Comparison, ModelVersion, Output
from evalhub.services.campaigns import campaign_close
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db

CAMPAIGN_NAME = "zeta-blind"
# Words that would hint at a model or an internal object; none may appear anywhere.
BANNED_WORDS = re.compile(
    r"candidate|baseline|finetun|fine-tun|\bbase\b|model|\blora\b|\bdpo\b|\bsft\b|adapter|"
    r"\bparent\b|\boutput|comparison[_-]?id|public_id|served_count|outcome|XYZ",
    re.IGNORECASE,
)
# An id next to a name that says what it is: "model_version": 3, data-output="5", /models/3.
ID_PAIRS = re.compile(
    r"""(?ix)
    ["']?(?:id|pk|model|model_?version|version|output|output_?id|comparison|comparison_?id
         |assignment|assignment_?id|prompt_?id|campaign_?id)["']?
    \s*[:=]\s*["']?\d+
    |/(?:models?|outputs?|comparisons?|versions?|assignments?)/\d+
    """
)
BANNED_JSON_KEYS = {
    "id",
    "pk",
    "model",
    "model_version",
    "model_name",
    "version",
    "output",
    "output_id",
    "comparison",
    "comparison_id",
    "public_id",
    "candidate_side",
    "outcome",
    "side",
    "source",
    "campaign",
    "campaign_name",
    "name",
}
POSITION_WORDS = re.compile(r"candidate|baseline|model|output|version|\d", re.IGNORECASE)


@pytest.fixture
def campaign(db) -> Campaign:
    """Distinctively named models, neutral answer texts (the factory's say which is which)."""
    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=2, name=CAMPAIGN_NAME)
    for number, output in enumerate(Output.objects.order_by("?")):
        output.text = f"Reply {chr(ord('A') + number)}: *kindly* wait for the courier."
        output.save(update_fields=["text"])
    return campaign


def secrets_of(campaign: Campaign) -> list[str]:
    """Strings that must never reach a rater."""
    names = list(ModelVersion.objects.values_list("name", flat=True))
    assert any("finetuned-model-XYZ" in name for name in names)
    uuids = [u for c in Comparison.objects.all() for u in (str(c.public_id), c.public_id.hex)]
    return [campaign.name, *names, *uuids]


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def scrub_tokens(body: str) -> str:
    """Blank out the random tokens (assignment and CSRF): by chance they may spell anything."""
    for token in Assignment.objects.values_list("token", flat=True):
        body = body.replace(token, "TOKEN")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken"', body)


def json_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from json_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from json_keys(inner)


def assert_blind_text(body: str, campaign: Campaign, where: str) -> None:
    body = scrub_tokens(body)
    for secret in secrets_of(campaign):
        assert secret.lower() not in body.lower(), f"{where} leaks {secret!r}"
    word = BANNED_WORDS.search(body)
    assert word is None, (
        f"{where} says {word.group(0)!r}: ...{body[max(0, word.start() - 80) : word.end() + 80]}..."
    )
    pair = ID_PAIRS.search(body)
    assert pair is None, f"{where} shows an internal id: {pair.group(0)!r}"


def assert_blind_page(response, campaign: Campaign, where: str) -> None:
    body = response.content.decode()
    assert_blind_text(body, campaign, where)
    parser = TagCollector()
    parser.feed(scrub_tokens(body))
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            if name in ("class", "id", "for", "aria-labelledby") or name.startswith("data-"):
                # Classes and ids say where a thing is on the page, never what it is.
                assert name == "data-key" or not POSITION_WORDS.search(value), (where, tag, name)
            if re.search(r"\d", value):
                # The only numbers in attributes: this campaign's own URLs, the keyboard hints
                # and the form's size limits; no numeric id of anything else.
                allowed = (
                    re.fullmatch(rf"/rate/{campaign.pk}/(vote|skip)?", value)
                    or (name == "data-key" and value in "1234")
                    or (tag == "textarea" and name in ("rows", "maxlength"))
                    or tag == "meta"  # charset utf-8, initial-scale=1
                )
                assert allowed, f"{where}: <{tag} {name}={value!r}> carries a number"
        if tag == "input" and attrs.get("type") == "hidden":
            # The one hidden field is the opaque token (plus Django's CSRF token).
            assert attrs["name"] in ("csrfmiddlewaretoken", "token"), (where, attrs)


def assert_blind_json(response, campaign: Campaign, where: str) -> None:
    body = response.content.decode()
    if not body:
        return
    assert_blind_text(body, campaign, where)
    keys = set(json_keys(json.loads(body)))
    assert not keys & BANNED_JSON_KEYS, f"{where} has keys {keys & BANNED_JSON_KEYS}"


def test_rater_pages_are_blind(client, rater, make_user, campaign):
    client.force_login(rater)
    assert_blind_page(client.get("/rate/"), campaign, "campaign list")

    page = client.get(f"/rate/{campaign.pk}/")
    assert page.status_code == 200
    assert_blind_page(page, campaign, "vote page")
    body = page.content.decode()
    assert 'class="answer answer-left"' in body and 'class="answer answer-right"' in body
    token = re.search(r'name="token" value="([^"]+)"', body).group(1)
    assignment = Assignment.objects.get(token=token)
    # Both answers are in the same response (never one side first).
    comparison = assignment.comparison
    for output in (comparison.candidate_output, comparison.baseline_output):
        assert output.text.split(":")[0] in body

    # Every flash message a rater can meet, each on the page it lands on.
    url = f"/rate/{campaign.pk}/"
    responses = {
        "bad choice": client.post(url + "vote", {"token": token, "choice": "up"}, follow=True),
        "vote recorded": client.post(url + "vote", {"token": token, "choice": "left"}, follow=True),
        "double submit": client.post(url + "vote", {"token": token, "choice": "left"}, follow=True),
        "skip a voted one": client.post(url + "skip", {"token": token}, follow=True),
        "unknown token": client.post(url + "vote", {"token": "nope", "choice": "tie"}, follow=True),
    }
    next_token = re.search(
        r'name="token" value="([^"]+)"', responses["unknown token"].content.decode()
    ).group(1)
    responses["skip"] = client.post(url + "skip", {"token": next_token}, follow=True)
    expiring = re.search(r'name="token" value="([^"]+)"', responses["skip"].content.decode()).group(
        1
    )
    Assignment.objects.filter(token=expiring).update(expires_at="2000-01-01T00:00:00Z")
    responses["expired"] = client.post(
        url + "vote", {"token": expiring, "choice": "tie"}, follow=True
    )
    for where, response in responses.items():
        assert response.status_code == 200, where
        assert_blind_page(response, campaign, where)

    # The all-done page: a campaign this rater has finished.
    done = client.get(url)
    assert "All done" in done.content.decode()
    assert_blind_page(done, campaign, "all-done page")

    # Error pages: not in the pool (404), closed (409), not a rater (403), missing (404).
    pooled = open_campaign_with_outputs(
        n_prompts=1, name=f"{CAMPAIGN_NAME}-pool", raters=[make_user("insider")]
    )
    pool_page = client.get(f"/rate/{pooled.pk}/")
    assert pool_page.status_code == 404
    assert_blind_page(pool_page, pooled, "not-in-pool page")
    missing = client.get("/rate/987654/")
    assert missing.status_code == 404
    assert_blind_page(missing, campaign, "missing campaign page")
    campaign_close(campaign=campaign)
    closed = client.get(url)
    assert closed.status_code == 409
    assert_blind_page(closed, campaign, "closed campaign page")
    closed_vote = client.post(url + "vote", {"token": token, "choice": "tie"}, follow=True)
    assert_blind_page(closed_vote, campaign, "vote on a closed campaign")
    client.force_login(make_user("a-pm", "pm"))
    assert_blind_page(client.get(url), campaign, "non-rater page")


def test_rater_api_is_blind(api_client, rater, make_user, campaign):
    api_client.force_authenticate(rater)
    next_url = f"/api/v1/campaigns/{campaign.pk}/next"
    served = api_client.get(next_url)
    assert served.status_code == 200
    assert_blind_json(served, campaign, "GET next")
    body = served.json()
    assert set(body) == {"token", "prompt", "left", "right", "expires_at"}
    token = body["token"]

    def vote(payload: dict[str, str], **headers: str):
        return api_client.post("/api/v1/votes", payload, format="json", **headers)

    checks = {
        "vote 400": vote({"token": token, "choice": "up"}),
        "vote 201": vote({"token": token, "choice": "left"}, HTTP_IDEMPOTENCY_KEY="k-1"),
        "vote replay": vote({"token": token, "choice": "left"}, HTTP_IDEMPOTENCY_KEY="k-1"),
        "vote 409": vote({"token": token, "choice": "right"}),
        "vote 404": vote({"token": "not-a-token", "choice": "tie"}),
        "skip 409": api_client.post("/api/v1/assignments/skip", {"token": token}, format="json"),
    }
    assert checks["vote 201"].status_code == 201
    assert checks["vote 409"].status_code == 409

    token = api_client.get(next_url).json()["token"]
    checks["skip 204"] = api_client.post(
        "/api/v1/assignments/skip", {"token": token}, format="json"
    )
    assert checks["skip 204"].status_code == 204
    token = api_client.get(next_url).json()["token"]
    Assignment.objects.filter(token=token).update(expires_at="2000-01-01T00:00:00Z")
    checks["vote 410"] = vote({"token": token, "choice": "tie"})
    assert checks["vote 410"].status_code == 410
    checks["next 204"] = api_client.get(next_url)
    assert checks["next 204"].status_code == 204

    api_client.force_authenticate(make_user("bob"))
    bobs = api_client.get(next_url)
    checks["GET next (second rater)"] = bobs
    api_client.force_authenticate(rater)
    checks["foreign token"] = vote({"token": bobs.json()["token"], "choice": "tie"})
    assert checks["foreign token"].status_code == 404
    campaign_close(campaign=campaign)
    checks["next 409"] = api_client.get(next_url)
    assert checks["next 409"].status_code == 409

    for where, response in checks.items():
        assert_blind_json(response, campaign, where)


def test_the_checks_catch_a_leak(campaign):
    """The assertions above are not vacuous: each kind of leak is caught."""
    comparison = Comparison.objects.first()
    leaks = [
        f"<p>{campaign.name}</p>",
        f'<div data-ref="{comparison.public_id}"></div>',
        f"<p>{comparison.public_id.hex}</p>",
        '{"model_version": 3}',
        '<a href="/models/3">x</a>',
        '<section class="answer answer-candidate">',
        '<input type="hidden" name="output_id" value="12">',
    ]
    for leak in leaks:
        with pytest.raises(AssertionError):
            assert_blind_text(leak, campaign, "probe")
    response = type("R", (), {"content": b'<div class="answer-x" data-slot="17"></div>'})()
    with pytest.raises(AssertionError):
        assert_blind_page(response, campaign, "probe")
    for leak in (b'{"token": "t", "id": "x"}', b'{"left": {"model": "m"}}'):
        with pytest.raises(AssertionError):
            assert_blind_json(type("R", (), {"content": leak})(), campaign, "probe")
