"""Customer conversations waiting for a reply: pushed by a support system or imported from files.

A conversation is a list of messages ``{"role": "customer" | "agent", "text": ...}`` (``user`` /
``assistant`` are accepted for the roles, ``content`` for the text) that ends with the customer:
that last customer message is what needs a reply. It becomes an evalhub prompt (earlier turns as
``history``, the last customer message(s) as the instruction), linked to the workbench campaign.

Identity: pushing the same ``external_id`` with the same messages again changes nothing (the
first record comes back). The same ``external_id`` with different messages is a newer state of
the conversation (the customer wrote again): it joins the queue and an unanswered older version
leaves it (status superseded).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evalhub.models import Campaign
from evalhub.services.errors import Conflict, InvalidInput
from feedback.models import Conversation, WorkbenchTurn
from feedback.services.prompts import prompt_get_or_create

ROLES = {"customer": "customer", "user": "customer", "agent": "agent", "assistant": "agent"}
MAX_MESSAGES = 200
MAX_TEXT = 20_000


@dataclass(frozen=True)
class ConversationIn:
    messages: Sequence[Any]
    external_id: str = ""
    channel: str = ""
    subject: str = ""
    system: str = ""


@dataclass
class ConversationImportSummary:
    created: int = 0
    unchanged: int = 0
    superseded: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def normalize_messages(raw: Any) -> list[dict[str, str]]:
    """Validated messages with canonical roles; raises InvalidInput with what to fix."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("messages must be a non-empty list.", details={"field": "messages"})
    if len(raw) > MAX_MESSAGES:
        raise InvalidInput(f"At most {MAX_MESSAGES} messages.", details={"field": "messages"})
    messages = []
    for number, message in enumerate(raw, start=1):
        if not isinstance(message, dict):
            raise InvalidInput(f"Message {number} is not an object.", details={"field": "messages"})
        role = ROLES.get(str(message.get("role", "")).strip().lower())
        text = message.get("text", message.get("content"))
        if role is None:
            raise InvalidInput(
                f"Message {number}: role must be customer or agent.", details={"field": "messages"}
            )
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise InvalidInput(
                f"Message {number}: text must be non-empty ({MAX_TEXT} characters at most).",
                details={"field": "messages"},
            )
        messages.append({"role": role, "text": text.strip()})
    if messages[-1]["role"] != "customer":
        raise InvalidInput(
            "The last message must be the customer's: it is what needs a reply.",
            details={"field": "messages"},
        )
    return messages


def prompt_fields(messages: Sequence[dict[str, str]]) -> tuple[list[list[str]], str]:
    """(history of [customer, agent] pairs, the customer's last words) for the prompt."""
    runs: list[tuple[str, str]] = []
    for message in messages:
        if runs and runs[-1][0] == message["role"]:
            runs[-1] = (message["role"], runs[-1][1] + "\n\n" + message["text"])
        else:
            runs.append((message["role"], message["text"]))
    if runs[0][0] == "agent":  # the agent spoke first (a greeting): keep turns in pairs
        runs.insert(0, ("customer", ""))
    history = [[runs[i][1], runs[i + 1][1]] for i in range(0, len(runs) - 1, 2)]
    return history, runs[-1][1]


def _content_hash(messages: list[dict[str, str]], system: str) -> str:
    payload = json.dumps({"system": system, "messages": messages}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_campaign(campaign: Campaign) -> None:
    if campaign.kind != Campaign.Kind.WORKBENCH:
        raise InvalidInput(
            f"Campaign {campaign.pk} is a {campaign.kind} campaign, not a workbench campaign.",
            code="wrong_campaign",
            details={"field": "campaign"},
        )
    if campaign.status == Campaign.Status.CLOSED:
        raise Conflict(f"Campaign {campaign.pk} is closed.", code="campaign_not_open")


def conversation_push(
    *,
    campaign: Campaign,
    data: ConversationIn,
    created_by: AbstractBaseUser | None = None,
    origin: str = Conversation.Origin.API,
) -> tuple[Conversation, bool]:
    """Queue a conversation for the workbench; returns (conversation, created)."""
    _check_campaign(campaign)
    messages = normalize_messages(list(data.messages) if data.messages is not None else None)
    for name, value, limit in (
        ("external_id", data.external_id, 200),
        ("channel", data.channel, 64),
        ("subject", data.subject, 300),
        ("system", data.system, MAX_TEXT),
    ):
        if len(value) > limit:
            raise InvalidInput(f"{name} is too long ({limit} at most).", details={"field": name})
    content_hash = _content_hash(messages, data.system)
    same = Conversation.objects.filter(
        campaign=campaign, external_id=data.external_id, content_hash=content_hash
    )
    if data.external_id and (found := same.first()) is not None:
        return found, False
    history, instruction = prompt_fields(messages)
    try:
        with transaction.atomic():
            prompt = prompt_get_or_create(
                instruction=instruction, system=data.system, history=history, source="workbench"
            )
            campaign.prompts.add(prompt)
            if data.external_id:
                older = Conversation.objects.filter(
                    campaign=campaign,
                    external_id=data.external_id,
                    status=Conversation.Status.QUEUED,
                )
                WorkbenchTurn.objects.filter(
                    conversation__in=older, status__in=WorkbenchTurn.LIVE
                ).update(status=WorkbenchTurn.Status.RELEASED)
                older.update(status=Conversation.Status.SUPERSEDED)
            conversation = Conversation.objects.create(
                campaign=campaign,
                external_id=data.external_id,
                channel=data.channel,
                subject=data.subject,
                messages=messages,
                content_hash=content_hash,
                prompt=prompt,
                origin=origin,
                created_by=created_by,
            )
    except IntegrityError:  # the same push arrived twice at once
        found = same.first()
        if found is None:
            raise
        return found, False
    return conversation, True


def conversations_import(
    *,
    campaign: Campaign,
    records: Iterable[tuple[int, ConversationIn | str]],
    created_by: AbstractBaseUser | None = None,
) -> ConversationImportSummary:
    """Queue many conversations; ``records`` are (line, conversation or a parse error).

    Each conversation is written on its own, so one bad record never blocks the others; the
    summary lists every problem with its line.
    """
    _check_campaign(campaign)
    summary = ConversationImportSummary()
    for line, record in records:
        if isinstance(record, str):
            summary.errors.append((line, record))
            continue
        try:
            before = (
                Conversation.objects.filter(
                    campaign=campaign, external_id=record.external_id, status="queued"
                ).count()
                if record.external_id
                else 0
            )
            _, created = conversation_push(
                campaign=campaign,
                data=record,
                created_by=created_by,
                origin=Conversation.Origin.IMPORT,
            )
        except InvalidInput as error:
            summary.errors.append((line, error.message))
            continue
        if created:
            summary.created += 1
            summary.superseded += before
        else:
            summary.unchanged += 1
    return summary
