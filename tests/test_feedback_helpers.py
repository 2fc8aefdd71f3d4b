"""Shared fixtures and builders for the feedback tests (thumbs, choices, workbench).

Test modules import what they use from here; pytest finds imported fixtures by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from evalhub.generation.testing_server import LoopbackOpenAIServer
from evalhub.models import Campaign, ModelVersion
from evalhub.services.campaigns import campaign_create, campaign_open

SERVED = ("wb-base", "wb-warm")


def product_user(name: str, *, support_system: bool = False) -> Any:
    """An API account as ``manage.py feedback_client`` makes it (only feedback permissions)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from evalhub.roles import forget_cached_perms

    codenames = ["send_feedback"] + (["push_conversations"] if support_system else [])
    user = get_user_model().objects.create(username=name)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="feedback", codename__in=codenames)
    )
    forget_cached_perms(user.pk)  # ids are reused between tests on SQLite
    return user


def feedback_campaign(
    kind: str, *, name: str = "fb", endpoint: str = "", raters: Any = None
) -> Campaign:
    """An open campaign of ``kind`` between two distinctively named models."""
    backend = "openai" if endpoint else "imported"
    base = ModelVersion.objects.create(
        name=f"{name}-secret-base-XYZ", backend=backend, endpoint=endpoint, served_name=SERVED[0]
    )
    candidate = ModelVersion.objects.create(
        name=f"{name}-secret-finetune-XYZ",
        backend=backend,
        endpoint=endpoint,
        served_name=SERVED[1],
        parent=base,
        method="lora",
    )
    campaign = campaign_create(
        name=f"{name}: {candidate.name} vs {base.name}",
        baseline=base,
        candidate=candidate,
        kind=kind,
        raters=raters,
        guidelines="Pick what you would **send**.",
    )
    campaign_open(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def loopback() -> Iterator[LoopbackOpenAIServer]:
    """An OpenAI-compatible server on 127.0.0.1 serving both workbench models."""
    from evalhub.services.generation import backends_close_all

    with LoopbackOpenAIServer(models=list(SERVED)) as server:
        yield server
    backends_close_all()


@pytest.fixture
def workbench(db, loopback) -> Campaign:
    return feedback_campaign("workbench", name="wb", endpoint=loopback.base_url)


@pytest.fixture
def agent(make_user) -> Any:
    return make_user("agent1", "agent")


def conversation_messages(number: int) -> list[dict[str, str]]:
    return [
        {"role": "customer", "text": f"Hi, my parcel {number} has not arrived."},
        {"role": "agent", "text": "Sorry to hear that! Could you give me the order number?"},
        {"role": "customer", "text": f"It is order A-{1000 + number}. **Please** hurry."},
    ]


def push_conversations(campaign: Campaign, count: int, *, prefix: str = "T") -> list[Any]:
    from feedback.services.conversations import ConversationIn, conversation_push

    return [
        conversation_push(
            campaign=campaign,
            data=ConversationIn(
                messages=conversation_messages(i),
                external_id=f"{prefix}-{i}",
                channel="chat",
                subject=f"Where is parcel {i}?",
            ),
        )[0]
        for i in range(count)
    ]


# -- blindness (DESIGN section 6), as tests/test_blindness.py checks the rater pages ------------

BANNED_WORDS = re.compile(
    r"candidate|baseline|finetun|fine-tun|\bbase\b|model|\blora\b|\bdpo\b|\bsft\b|adapter|"
    r"\bparent\b|\boutput|comparison|public_id|outcome|layout|source|served|XYZ|wb-base|wb-warm",
    re.IGNORECASE,
)
ID_PAIRS = re.compile(
    r"""(?ix)
    ["']?(?:id|pk|model|model_?version|version|output|output_?id|comparison|prompt_?id
         |campaign_?id|turn|turn_?id|suggestion_?id|task_?id)["']?\s*[:=]\s*["']?\d+
    |/(?:models?|outputs?|comparisons?|versions?|turns?|suggestions?)/\d+
    """
)
POSITION_WORDS = re.compile(r"candidate|baseline|model|output|version|source", re.IGNORECASE)
BANNED_JSON_KEYS = {
    "id", "pk", "model", "model_version", "model_name", "version", "output", "output_id",
    "source", "campaign", "campaign_name", "name", "layout", "outcome", "side", "vote",
}  # fmt: skip


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def secrets_of(campaign: Campaign) -> list[str]:
    versions = [campaign.baseline, campaign.candidate]
    names = [v.name for v in versions] + [v.served_name for v in versions if v.served_name]
    return [campaign.name, *names]


def scrub_tokens(body: str, tokens: list[str]) -> str:
    """Blank out random tokens and ids (by chance they may spell anything)."""
    for token in tokens:
        body = body.replace(token, "TOKEN")
    body = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID", body)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken"', body)


def assert_blind_text(body: str, campaign: Campaign, where: str, tokens: list[str]) -> None:
    body = scrub_tokens(body, tokens)
    for secret in secrets_of(campaign):
        assert secret.lower() not in body.lower(), f"{where} leaks {secret!r}"
    word = BANNED_WORDS.search(body)
    assert word is None, (
        f"{where} says {word.group(0)!r}: ...{body[max(0, word.start() - 80) : word.end() + 80]}..."
    )
    pair = ID_PAIRS.search(body)
    assert pair is None, f"{where} shows an internal id: {pair.group(0)!r}"


ALLOWED_NUMBERED = [
    re.compile(r"/workbench/c/UUID/(suggestions|send)?"),
    re.compile(r"/choose/\d+/(pick|skip)?"),
    re.compile(r"Answer [1-8]"),
]


def assert_blind_page(body: str, campaign: Campaign, where: str, tokens: list[str]) -> None:
    assert_blind_text(body, campaign, where, tokens)
    parser = TagCollector()
    parser.feed(scrub_tokens(body, tokens))
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            if name in ("class", "id", "for", "aria-labelledby") or name.startswith("data-"):
                assert not POSITION_WORDS.search(value), (where, tag, name, value)
            if re.search(r"\d", value):
                allowed = (
                    any(pattern.fullmatch(value) for pattern in ALLOWED_NUMBERED)
                    or (name == "data-key" and value in "12345678")
                    or (tag == "input" and name == "value" and value in "1234")
                    or (tag == "textarea" and name in ("rows", "maxlength", "placeholder"))
                    or tag == "meta"
                )
                assert allowed, f"{where}: <{tag} {name}={value!r}> carries a number"
        if tag == "input" and attrs.get("type") == "hidden":
            assert attrs["name"] in ("csrfmiddlewaretoken", "token", "pick_ms"), (where, attrs)


def json_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from json_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from json_keys(inner)


def assert_blind_json(body: str, campaign: Campaign, where: str, tokens: list[str]) -> None:
    if not body:
        return
    assert_blind_text(body, campaign, where, tokens)
    keys = set(json_keys(json.loads(body)))
    assert not keys & BANNED_JSON_KEYS, f"{where} has keys {keys & BANNED_JSON_KEYS}"
