"""N-way choice: n answers to one prompt, shown shuffled and anonymous; one is picked (or none)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from feedback.models.common import Source, new_option_key, new_token

MIN_OPTIONS, MAX_OPTIONS = 2, 8


class ChoiceTask(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        PICKED = "picked"
        SKIPPED = "skipped"

    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    campaign = models.ForeignKey(
        "evalhub.Campaign", on_delete=models.PROTECT, related_name="choice_tasks"
    )
    prompt = models.ForeignKey("evalhub.Prompt", on_delete=models.PROTECT, related_name="+")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="choice_tasks",
        help_text="The rater who was shown it on /choose/ (empty for a product's task).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The product account that created it through the API.",
    )
    product_user_id = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    counts_toward_support_rate = models.BooleanField(
        default=False,
        help_text="Options come from the baseline and the candidate only, as many from each.",
    )
    picked = models.ForeignKey(
        "feedback.ChoiceOption", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    none_usable = models.BooleanField(default=False)
    time_to_pick_ms = models.PositiveIntegerField(null=True, blank=True)
    vote = models.OneToOneField(
        "evalhub.Vote", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shown_at = models.DateTimeField()
    picked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "picked", "skipped"]),
                name="choice_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="picked", picked__isnull=False, none_usable=False)
                    | Q(status="picked", picked__isnull=True, none_usable=True)
                    | (~Q(status="picked") & Q(picked__isnull=True, none_usable=False))
                ),
                name="choice_pick_consistent",
            ),
            models.UniqueConstraint(
                fields=["campaign", "prompt", "rater"],
                condition=Q(rater__isnull=False),
                name="choice_once_per_rater",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "status"], name="choice_by_campaign")]

    def __str__(self) -> str:
        return f"choice task {self.pk} ({self.status})"


class ChoiceOption(models.Model):
    task = models.ForeignKey(ChoiceTask, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveSmallIntegerField(help_text="1-based place in the order shown.")
    key = models.CharField(max_length=32, default=new_option_key, editable=False)
    output = models.ForeignKey("evalhub.Output", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices)

    class Meta:
        ordering = ["task_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="choice_option_position"),
            models.UniqueConstraint(fields=["task", "key"], name="choice_option_key"),
            models.UniqueConstraint(fields=["task", "output"], name="choice_option_output"),
            models.CheckConstraint(
                condition=Q(position__gte=1, position__lte=MAX_OPTIONS),
                name="choice_option_position_range",
            ),
            models.CheckConstraint(
                condition=Q(source__in=["baseline", "candidate", "other"]),
                name="choice_option_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"option {self.position} of task {self.task_id}"
