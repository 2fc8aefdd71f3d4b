"""Training runs: a dataset version, a starting model, a method and a config, run as a
background job; on success, the adapter it produced and the campaign that evaluates it.

The run's state is its job's state (``evalhub.Job``: queued, running, succeeded, failed,
cancelled) so there is one truth, recovered by the job machinery when a worker dies. The link
from a model version to the run that produced it lives here (``produced_model``), since evalhub
imports nothing from training.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

METHODS = ("dpo", "sft", "reward")


class TrainingRun(models.Model):
    class Method(models.TextChoices):
        DPO = "dpo", "DPO"
        SFT = "sft", "SFT"
        REWARD = "reward", "reward model"

    name = models.CharField(max_length=200, unique=True)
    dataset = models.ForeignKey(
        "training.DatasetVersion", on_delete=models.PROTECT, related_name="runs"
    )
    start_model = models.ForeignKey(
        "evalhub.ModelVersion",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version training starts from (a base or an adapter).",
    )
    base_model = models.ForeignKey(
        "evalhub.ModelVersion",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The base whose weights are loaded (the produced adapter's parent).",
    )
    compare_against = models.ForeignKey(
        "evalhub.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Baseline of the follow-up campaign; empty = the current best at the end.",
    )
    method = models.CharField(max_length=8, choices=Method.choices)
    config = models.JSONField(default=dict, help_text="The full config handed to training.ml.")
    output_dir = models.CharField(max_length=1000)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_by"
    )
    job = models.OneToOneField(
        "evalhub.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    progress = models.JSONField(default=dict, blank=True, help_text="The latest progress event.")
    metrics = models.JSONField(default=list, blank=True, help_text="Progress rows (compact).")
    result = models.JSONField(default=dict, blank=True, help_text="training.ml's result.json.")
    produced_model = models.OneToOneField(
        "evalhub.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="training_run",
    )
    follow_up_campaign = models.ForeignKey(
        "evalhub.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(method__in=METHODS), name="run_method_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        """queued | running | succeeded | failed | cancelled (the job's state)."""
        return self.job.state if self.job_id and self.job else "queued"

    @property
    def is_finished(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")
