"""Thumbs up / down that products send about answers they showed their own users."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class TracedOutput(models.Model):
    """An answer a product showed, known by the product's trace id (and the model that wrote it).

    The first thumb that names a trace creates an imported evalhub ``Output`` for it; later thumbs
    on the same trace find it here (one output per model version and trace id).
    """

    model_version = models.ForeignKey(
        "evalhub.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    trace_id = models.CharField(max_length=200)
    output = models.OneToOneField("evalhub.Output", on_delete=models.PROTECT, related_name="trace")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "trace_id"], name="traced_output_once"
            ),
        ]

    def __str__(self) -> str:
        return f"trace {self.trace_id}"


class Thumb(models.Model):
    class Value(models.TextChoices):
        UP = "up"
        DOWN = "down"

    campaign = models.ForeignKey(
        "evalhub.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="thumbs",
        help_text="The thumbs campaign it counts in (empty: recorded, counted nowhere).",
    )
    output = models.ForeignKey("evalhub.Output", on_delete=models.PROTECT, related_name="thumbs")
    value = models.CharField(max_length=4, choices=Value.choices)
    comment = models.TextField(blank=True)
    channel = models.CharField(max_length=64, blank=True)
    product_user_id = models.CharField(
        max_length=200, blank=True, help_text="The product's anonymous id of its user."
    )
    trace_id = models.CharField(max_length=200, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The account (API token) that sent it.",
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    is_current = models.BooleanField(
        default=True,
        help_text="False once the same product user thumbed the same output again (the latest "
        "counts; earlier ones stay as history).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        permissions = [
            ("send_feedback", "Can send thumbs and n-way choices from a product"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(value__in=["up", "down"]), name="thumb_value_valid"),
            models.UniqueConstraint(
                fields=["output", "product_user_id"],
                condition=Q(is_current=True) & ~Q(product_user_id=""),
                name="thumb_current_once_per_user",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "is_current"], name="thumb_by_campaign")]

    def __str__(self) -> str:
        return f"thumb {self.value} on output {self.output_id}"
