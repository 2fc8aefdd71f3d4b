"""The one door for what agents see. Nothing returned here names a model, an output or a source:
conversations are known by their random public id, turns by an opaque token, and suggestions
only by their slot (1-4) and text. Missing and not-yours look the same (NotFound)."""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.html import strip_tags

from evalhub.markdown import render_markdown
from evalhub.models import Campaign
from evalhub.roles import has_perm_cached
from evalhub.services.errors import NotFound
from feedback import conf
from feedback.models import Conversation, WorkbenchTurn
from feedback.services.workbench import USE_WORKBENCH

PREVIEW_CHARS = 160


@dataclass(frozen=True)
class QueueItem:
    public_id: uuid.UUID
    subject: str
    preview: str
    channel: str
    queue_title: str
    waiting_since: datetime
    mine: bool  # this agent opened it and has not sent yet


def _agent_conversations(agent: AbstractBaseUser) -> Any:
    """Conversations of open workbench campaigns whose pool holds this agent (or is empty)."""
    pool = Campaign.raters.through.objects.filter(campaign_id=OuterRef("campaign_id"))
    return (
        Conversation.objects.filter(
            campaign__kind=Campaign.Kind.WORKBENCH, campaign__status=Campaign.Status.OPEN
        )
        .annotate(has_pool=Exists(pool), in_pool=Exists(pool.filter(user_id=agent.pk)))
        .filter(Q(has_pool=False) | Q(in_pool=True))
    )


def queue_for_agent(
    *, agent: AbstractBaseUser, limit: int = 100, now: datetime | None = None
) -> list[QueueItem]:
    """Conversations waiting for a reply that this agent may take, oldest first (one query).

    A conversation another agent opened less than the claim time ago is left out.
    """
    if not has_perm_cached(agent, USE_WORKBENCH):
        return []
    now = now or timezone.now()
    fresh = now - timedelta(minutes=conf.workbench_claim_minutes())
    live = WorkbenchTurn.objects.filter(
        conversation_id=OuterRef("pk"), status__in=WorkbenchTurn.LIVE
    )
    rows = (
        _agent_conversations(agent)
        .filter(status=Conversation.Status.QUEUED)
        .annotate(
            mine=Exists(live.filter(agent=agent)),
            held=Exists(live.exclude(agent=agent).filter(opened_at__gt=fresh)),
        )
        .filter(held=False)
        .select_related("campaign")
        .order_by("created_at", "id")[:limit]
    )
    return [
        QueueItem(
            public_id=row.public_id,
            subject=row.subject,
            preview=_preview(row.messages),
            channel=row.channel,
            queue_title=row.campaign.display_title,
            waiting_since=row.created_at,
            mine=row.mine,
        )
        for row in rows
    ]


def _preview(messages: list[dict[str, str]]) -> str:
    """The customer's last words as plain text (markdown rendered, then tags dropped)."""
    last = messages[-1]["text"] if messages else ""
    text = " ".join(html.unescape(strip_tags(render_markdown(last))).split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def sent_by_agent(*, agent: AbstractBaseUser, limit: int = 10) -> list[Conversation]:
    """The agent's most recently sent replies."""
    return list(
        Conversation.objects.filter(sent_by=agent, status=Conversation.Status.SENT).order_by(
            "-sent_at"
        )[:limit]
    )


def conversation_get_for_agent(*, agent: AbstractBaseUser, public_id: Any) -> Conversation:
    """A conversation in one of this agent's queues; anything else is NotFound."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        key = None
    conversation = (
        _agent_conversations(agent)
        .select_related("prompt", "campaign__baseline__parent", "campaign__candidate__parent")
        .filter(public_id=key)
        .first()
        if key is not None and has_perm_cached(agent, USE_WORKBENCH)
        else None
    )
    if conversation is None:
        raise NotFound("No such conversation in your queues.")
    return conversation


def turn_get_for_agent(*, agent: AbstractBaseUser, conversation: Conversation) -> WorkbenchTurn:
    """This agent's live turn on the conversation (NotFound when there is none)."""
    turn = (
        conversation.turns.filter(agent=agent, status__in=WorkbenchTurn.LIVE)
        .prefetch_related("suggestions__output")
        .first()
    )
    if turn is None:
        raise NotFound("You have not opened this conversation.", code="unknown_token")
    return turn


def conversation_blind_payload(*, conversation: Conversation) -> dict[str, Any]:
    """The conversation as an agent reads it: messages (text and sanitized HTML), and the reply
    once sent."""
    return {
        "conversation": str(conversation.public_id),
        "subject": conversation.subject,
        "messages": [
            {"role": m["role"], "text": m["text"], "html": render_markdown(m["text"])}
            for m in conversation.messages
        ],
        "status": conversation.status,
        "reply": conversation.reply_text,
        "reply_html": render_markdown(conversation.reply_text) if conversation.reply_text else "",
        "sent_at": conversation.sent_at,
    }


def turn_blind_payload(*, turn: WorkbenchTurn) -> dict[str, Any]:
    """The suggestions as shown: slot and text only, in slot order."""
    prefetched = getattr(turn, "_prefetched_objects_cache", {}).get("suggestions")
    rows = prefetched if prefetched is not None else turn.suggestions.select_related("output")
    suggestions = sorted(rows, key=lambda s: s.slot)
    return {
        "token": turn.token,
        "status": turn.status,
        "suggestions": [
            {"slot": s.slot, "text": s.output.text, "html": render_markdown(s.output.text)}
            for s in suggestions
        ],
    }
