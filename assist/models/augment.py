"""Prompt augmentation: new prompts made by a model from existing ones, always marked as AI.

Each record links a source prompt to what the model wrote (paraphrase, or a back-translation
through a pivot language: two calls) and says whether it was kept as a new ``Prompt``
(``origin`` paraphrase / back_translation, ``derived_from`` the source, the source's labels and
split) or dropped as a near-duplicate (of its source, of a sibling, or of an existing prompt),
with the similarity found.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AugmentationRun(models.Model):
    class Method(models.TextChoices):
        PARAPHRASE = "paraphrase"
        BACK_TRANSLATION = "back_translation", "back-translation"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    method = models.CharField(max_length=20, choices=Method.choices)
    model_version = models.ForeignKey(
        "evalhub.ModelVersion", on_delete=models.PROTECT, related_name="augmentation_runs"
    )
    prompt_filter = models.JSONField(
        default=dict, help_text="How the source prompts were chosen (label, campaign, source, ids)."
    )
    source_prompt_ids = models.JSONField(default=list)
    per_prompt = models.PositiveSmallIntegerField(default=1)
    pivot_language = models.CharField(max_length=40, blank=True, default="")
    near_duplicate_threshold = models.FloatField(default=0.8)
    seed = models.IntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey(
        "evalhub.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    counts = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(method__in=["paraphrase", "back_translation"]),
                name="augmentationrun_method_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="augmentationrun_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(near_duplicate_threshold__gt=0) & Q(near_duplicate_threshold__lte=1),
                name="augmentationrun_threshold_share",
            ),
        ]

    def __str__(self) -> str:
        return f"augmentation run {self.pk} ({self.method})"


class AugmentationRecord(models.Model):
    class Status(models.TextChoices):
        KEPT = "kept"
        DUPLICATE = "duplicate", "dropped: near-duplicate"
        FAILED = "failed", "generation failed"

    run = models.ForeignKey(AugmentationRun, on_delete=models.CASCADE, related_name="records")
    source_prompt = models.ForeignKey("evalhub.Prompt", on_delete=models.PROTECT, related_name="+")
    sample_index = models.PositiveSmallIntegerField(default=0)
    text = models.TextField(blank=True, help_text="What the model wrote (the new instruction).")
    pivot_text = models.TextField(
        blank=True, help_text="Back-translation: the pivot-language text."
    )
    new_prompt = models.OneToOneField(
        "evalhub.Prompt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    duplicate_of = models.ForeignKey(
        "evalhub.Prompt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    duplicate_kind = models.CharField(
        max_length=20, blank=True, help_text="source, sibling or existing"
    )
    similarity = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "source_prompt", "sample_index"], name="augmentation_record_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["kept", "duplicate", "failed"]),
                name="augmentationrecord_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="kept") | Q(new_prompt__isnull=False),
                name="augmentationrecord_kept_has_prompt",
            ),
        ]

    def __str__(self) -> str:
        return f"augmentation of prompt {self.source_prompt_id} #{self.sample_index}: {self.status}"
