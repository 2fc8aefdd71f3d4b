"""The audit trail: who changed a campaign, a vote or a model version, how, and what changed.

One row per change, written in the same transaction as the change (both or neither). Rows are
never edited or deleted by evalhub (the admin shows them read-only). Ordinary votes are not
copied here: a vote row already records its rater and time and is never edited; a correction
(a new, superseding vote) is.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AuditEvent(models.Model):
    class Via(models.TextChoices):
        ADMIN = "admin", "admin site"
        API = "api", "REST API"
        CLI = "cli", "command line (manage.py, worker)"
        PAGE = "page", "web page"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The signed-in user; empty for the command line and background jobs.",
    )
    actor_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Username at the time (kept if the user is deleted), or the command that ran.",
    )
    action = models.CharField(max_length=64, help_text="e.g. campaign.open, vote.correct")
    object_type = models.CharField(max_length=64, help_text="campaign, vote, modelversion")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(
        default=dict, blank=True, help_text="The changed fields' values before."
    )
    after = models.JSONField(
        default=dict, blank=True, help_text="The changed fields' values after."
    )
    note = models.CharField(max_length=500, blank=True)
    via = models.CharField(max_length=8, choices=Via.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(via__in=["admin", "api", "cli", "page"]), name="auditevent_via_valid"
            ),
        ]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        who = self.actor_name or "someone"
        return f"{who} {self.action} {self.object_type} {self.object_id} via {self.via}"
