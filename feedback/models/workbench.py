"""The 2+2 agent workbench: a queue of customer conversations, and the agent's turn on each.

A ``Conversation`` needs one reply. When an agent opens it, a ``WorkbenchTurn`` asks the
campaign's baseline and candidate for two suggestions each, at that moment, and shows the four in
a shuffled layout (recorded in ``layout`` and in the ``WorkbenchSuggestion`` rows). The agent
picks one (and may edit it) or marks "none usable" and writes their own; the reply is sent back
to the support system through the API.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from feedback.models.common import Source, new_token

SLOTS = (1, 2, 3, 4)


class Conversation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "waiting for a reply"
        SENT = "sent", "reply sent"
        SUPERSEDED = "superseded", "replaced by a newer version of the conversation"

    class Origin(models.TextChoices):
        API = "api"
        IMPORT = "import"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(
        "evalhub.Campaign", on_delete=models.PROTECT, related_name="conversations"
    )
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The support system's id of the conversation."
    )
    channel = models.CharField(max_length=64, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    messages = models.JSONField(help_text='[{"role": "customer"|"agent", "text": "..."}, ...]')
    content_hash = models.CharField(max_length=64)
    prompt = models.ForeignKey(
        "evalhub.Prompt",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The conversation as a prompt (history + last customer message).",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.API)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply_text = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [
            ("push_conversations", "Can push conversations and read sent replies (support system)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sent", "superseded"]),
                name="conversation_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | (Q(sent_at__isnull=False) & ~Q(reply_text="")),
                name="conversation_sent_has_reply",
            ),
            models.UniqueConstraint(
                fields=["campaign", "external_id", "content_hash"],
                condition=~Q(external_id=""),
                name="conversation_once_per_content",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "created_at"], name="conversation_queue"),
            models.Index(fields=["campaign", "external_id"], name="conversation_external"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.external_id or self.public_id}"


class WorkbenchTurn(models.Model):
    class Status(models.TextChoices):
        GENERATING = "generating"
        READY = "ready"
        FAILED = "failed", "generation failed"
        SENT = "sent"
        RELEASED = "released", "left unanswered (claim expired)"

    LIVE = (Status.GENERATING, Status.READY, Status.FAILED)

    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="turns")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workbench_turns"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.GENERATING)
    layout = models.CharField(
        max_length=4, blank=True, help_text="Source per slot 1-4: b = baseline, c = candidate."
    )
    generation_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why generation failed (server side only).")
    opened_at = models.DateTimeField()
    shown_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    picked_slot = models.PositiveSmallIntegerField(null=True, blank=True)
    picked_source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    none_usable = models.BooleanField(default=False)
    final_text = models.TextField(blank=True)
    edit_distance = models.PositiveIntegerField(
        null=True, blank=True, help_text="Levenshtein distance from the picked suggestion."
    )
    time_to_pick_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_send_ms = models.PositiveIntegerField(null=True, blank=True)
    vote = models.OneToOneField(
        "evalhub.Vote", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["generating", "ready", "failed", "sent", "released"]),
                name="turn_status_valid",
            ),
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["generating", "ready", "failed"]),
                name="turn_one_live_per_conversation",
            ),
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(status="sent"), name="turn_one_sent"
            ),
            models.CheckConstraint(
                condition=Q(picked_slot__isnull=True) | Q(picked_slot__gte=1, picked_slot__lte=4),
                name="turn_slot_range",
            ),
            models.CheckConstraint(
                condition=~(Q(picked_slot__isnull=False) & Q(none_usable=True)),
                name="turn_pick_or_none",
            ),
            models.CheckConstraint(
                condition=Q(picked_slot__isnull=True, picked_source="")
                | Q(picked_slot__isnull=False, picked_source__in=["baseline", "candidate"]),
                name="turn_source_with_slot",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | (Q(sent_at__isnull=False) & ~Q(final_text="")),
                name="turn_sent_has_text",
            ),
        ]
        indexes = [models.Index(fields=["agent", "status"], name="turn_by_agent")]

    def __str__(self) -> str:
        return f"workbench turn {self.pk} ({self.status})"


class WorkbenchSuggestion(models.Model):
    turn = models.ForeignKey(WorkbenchTurn, on_delete=models.CASCADE, related_name="suggestions")
    slot = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    output = models.OneToOneField("evalhub.Output", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["turn_id", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["turn", "slot"], name="suggestion_slot_once"),
            models.CheckConstraint(
                condition=Q(slot__gte=1, slot__lte=4), name="suggestion_slot_range"
            ),
            models.CheckConstraint(
                condition=Q(source__in=["baseline", "candidate"]), name="suggestion_source_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"slot {self.slot} of turn {self.turn_id}"
