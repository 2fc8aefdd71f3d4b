"""Dataset versions: a frozen membership and split of pairs (and SFT / KTO examples).

Nothing here is edited after ``dataset_version_freeze`` wrote it: the items, their splits, the
filters and seed that chose them, the counts and the export fingerprints. Training runs point at
the version they used (``TrainingRun.dataset``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

SPLITS = ("train", "val", "test")


class DatasetVersion(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    filters = models.JSONField(default=dict, blank=True, help_text="What was selected, as asked.")
    seed = models.PositiveIntegerField(default=0)
    split_ratios = models.JSONField(default=dict, help_text='{"train": 0.8, "val": 0.1, ...}')
    near_duplicate_threshold = models.FloatField(default=0.8)
    counts = models.JSONField(
        default=dict, blank=True, help_text="Per split and label, and the dedup report."
    )
    exports = models.JSONField(
        default=dict, blank=True, help_text="format -> split -> {rows, sha256} of each export."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_training", "Can build pairs, freeze datasets and train models")]
        constraints = [
            models.CheckConstraint(
                condition=Q(near_duplicate_threshold__gt=0) & Q(near_duplicate_threshold__lte=1),
                name="dataset_threshold_share",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def n_pairs(self) -> int:
        return int(self.counts.get("pairs", {}).get("total", 0))


class DatasetItem(models.Model):
    """One pair or example in one dataset version, with the split it was assigned."""

    class Split(models.TextChoices):
        TRAIN = "train"
        VAL = "val"
        TEST = "test"

    dataset = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="items")
    pair = models.ForeignKey(
        "training.PreferencePair", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    example = models.ForeignKey(
        "training.CompletionExample",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    prompt = models.ForeignKey("evalhub.Prompt", on_delete=models.PROTECT, related_name="+")
    split = models.CharField(max_length=5, choices=Split.choices)
    label = models.CharField(max_length=100, help_text="The stratum it was split in.")
    group = models.CharField(
        max_length=16, help_text="Prompt group (a prompt and its near duplicates)."
    )

    class Meta:
        ordering = ["dataset_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pair__isnull=False, example__isnull=True)
                | Q(pair__isnull=True, example__isnull=False),
                name="dataset_item_one_kind",
            ),
            models.CheckConstraint(condition=Q(split__in=SPLITS), name="dataset_item_split_valid"),
            models.UniqueConstraint(
                fields=["dataset", "pair"],
                condition=Q(pair__isnull=False),
                name="dataset_pair_once",
            ),
            models.UniqueConstraint(
                fields=["dataset", "example"],
                condition=Q(example__isnull=False),
                name="dataset_example_once",
            ),
        ]
        indexes = [models.Index(fields=["dataset", "split"], name="dataset_item_split")]

    def __str__(self) -> str:
        return f"item {self.pk} of {self.dataset_id} ({self.split})"
