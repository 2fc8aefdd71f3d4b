"""Where data came from: a registry of sources that prompts, outputs, votes and pairs point to."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class DataSource(models.Model):
    """One origin of data: a log stream, a public set, an expert team, a model, a crowd, a system.

    Every prompt, output, vote and preference pair may point to its source (``data_source``), so
    volume, agreement, survival through dedup and review, and support rate can be read per source.
    Sources are never deleted once data points to them (PROTECT); retire one with ``is_active``.
    """

    class Kind(models.TextChoices):
        OWN_LOGS = "own_logs", "own logs"
        PUBLIC = "public", "public dataset"
        USER_GENERATED = "user_generated", "user-generated"
        EXPERT = "expert", "expert-written"
        SYNTHETIC = "synthetic", "model-synthesized"
        CROWDSOURCED = "crowdsourced", "crowdsourced"
        ONLINE = "online", "imported from an online system"

    class Grade(models.TextChoices):
        A = "A", "A: verified, fit to train on"
        B = "B", "B: good, spot-checked"
        C = "C", "C: unknown or mixed"
        D = "D", "D: poor, evaluation only"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    owner = models.CharField(max_length=200, blank=True, help_text="Team or person responsible.")
    licence = models.TextField(blank=True, help_text="Licence and terms of use.")
    quality_grade = models.CharField(max_length=1, choices=Grade.choices, default=Grade.C)
    description = models.TextField(blank=True)
    url = models.URLField(blank=True, help_text="Where it lives (a system, a dataset card).")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "own_logs",
                        "public",
                        "user_generated",
                        "expert",
                        "synthetic",
                        "crowdsourced",
                        "online",
                    ]
                ),
                name="datasource_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(quality_grade__in=["A", "B", "C", "D"]),
                name="datasource_grade_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name
