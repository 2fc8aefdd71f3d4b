"""Preference pairs and completion examples, each with the signal it came from.

A pair is rebuilt, never edited: a build recomputes every pair of its sources and scope, upserts
them by ``content_hash`` (the texts never change; strength and agreement may) and retires the
ones the signals no longer support (``is_active=False``). Frozen dataset versions keep pointing at
retired rows, so a dataset never changes after it was frozen.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from evalhub.models.prompts import normalize_text


class PairSource(models.TextChoices):
    PAIRWISE = "pairwise", "pairwise votes"
    WORKBENCH_PICK = "workbench_pick", "workbench pick"
    WORKBENCH_EDIT = "workbench_edit", "workbench edit"
    CHOICE = "choice", "n-way choice"
    THUMBS = "thumbs", "thumbs up vs down"
    EXPERT = "expert", "expert"
    AI_JUDGE = "ai_judge", "AI judge (RLAIF)"


def pair_content_hash(
    *, source: str, campaign_id: int | None, prompt_hash: str, chosen: str, rejected: str
) -> str:
    """Identity of a pair: its source and campaign, the prompt and both normalized texts.

    The same preference seen in two campaigns or from two sources is two pairs (their strengths
    are not mixed); freezing a dataset removes such exact duplicates (dedup by prompt and texts).
    """
    return normalized_pair_hash(
        source, campaign_id, prompt_hash, normalize_text(chosen), normalize_text(rejected)
    )


def normalized_pair_hash(
    source: str, campaign_id: int | None, prompt_hash: str, chosen_norm: str, rejected_norm: str
) -> str:
    """``pair_content_hash`` of texts already normalized (the pair builder's fast path)."""
    payload = "\x1f".join((source, str(campaign_id), prompt_hash, chosen_norm, rejected_norm))
    return hashlib.sha256(payload.encode()).hexdigest()


def example_content_hash(
    *, kind: str, source: str, campaign_id: int | None, prompt_hash: str, text: str, label: object
) -> str:
    payload = "\x1f".join(
        (kind, source, str(campaign_id), prompt_hash, normalize_text(text), str(label))
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _review_status_field(what: str) -> models.CharField:
    """Expert review of a pair or example (set by labeling reviews); rejected rows stay out."""
    return models.CharField(
        max_length=10,
        choices=[
            ("unreviewed", "unreviewed"),
            ("accepted", "accepted"),
            ("corrected", "corrected"),
            ("rejected", "rejected"),
        ],
        default="unreviewed",
        db_default="unreviewed",
        help_text=f"Expert review; rejected {what} never enter a dataset.",
    )


class PairBuild(models.Model):
    """One run of pair building: what it covered and what it found (shown on the page)."""

    sources = models.JSONField(default=list)
    campaigns = models.JSONField(default=list, help_text="Campaign ids in scope; [] = all.")
    include_simulated = models.BooleanField(default=False)
    counts = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(default=0.0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"pair build {self.pk}"


class PreferencePair(models.Model):
    Source = PairSource

    prompt = models.ForeignKey(
        "evalhub.Prompt", on_delete=models.PROTECT, related_name="preference_pairs"
    )
    chosen_text = models.TextField()
    rejected_text = models.TextField()
    chosen_output = models.ForeignKey(
        "evalhub.Output", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_output = models.ForeignKey(
        "evalhub.Output", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=20, choices=PairSource.choices)
    source_key = models.CharField(
        max_length=200, help_text="The record it came from: comparison:12, workbench-turn:7, ..."
    )
    campaign = models.ForeignKey(
        "evalhub.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="preference_pairs",
    )
    strength = models.PositiveIntegerField(default=1, help_text="Signals that agree with it.")
    n_signals = models.PositiveIntegerField(default=1, help_text="Signals on the same question.")
    agreement = models.FloatField(default=1.0, help_text="strength / n_signals")
    labels = models.ManyToManyField("evalhub.Label", blank=True, related_name="+")
    data_source = models.ForeignKey(
        "evalhub.DataSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="preference_pairs",
    )
    review_status = _review_status_field("pairs")
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    last_build = models.ForeignKey(
        PairBuild, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=PairSource.values), name="pair_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(strength__gte=1) & Q(strength__lte=F("n_signals")),
                name="pair_strength_within_signals",
            ),
            models.CheckConstraint(
                condition=Q(agreement__gt=0) & Q(agreement__lte=1), name="pair_agreement_share"
            ),
            models.CheckConstraint(
                condition=Q(review_status__in=["unreviewed", "accepted", "corrected", "rejected"]),
                name="pair_review_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "campaign", "is_active"], name="pair_scope"),
            models.Index(fields=["prompt", "is_active"], name="pair_by_prompt"),
        ]

    def __str__(self) -> str:
        return f"pair {self.pk} ({self.source}, strength {self.strength})"


class CompletionExample(models.Model):
    """A single answer to learn from: an SFT example (an agent's edited or own reply) or a KTO
    row (a thumbed answer without an opposite thumb on the same prompt)."""

    class Kind(models.TextChoices):
        SFT = "sft"
        KTO = "kto"

    kind = models.CharField(max_length=4, choices=Kind.choices)
    prompt = models.ForeignKey("evalhub.Prompt", on_delete=models.PROTECT, related_name="+")
    completion = models.TextField()
    output = models.ForeignKey(
        "evalhub.Output", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    label = models.BooleanField(null=True, blank=True, help_text="KTO: desirable or not.")
    source = models.CharField(max_length=20, choices=PairSource.choices)
    source_key = models.CharField(max_length=200)
    campaign = models.ForeignKey(
        "evalhub.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    strength = models.PositiveIntegerField(default=1)
    labels = models.ManyToManyField("evalhub.Label", blank=True, related_name="+")
    data_source = models.ForeignKey(
        "evalhub.DataSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="completion_examples",
    )
    review_status = _review_status_field("examples")
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True)
    last_build = models.ForeignKey(
        PairBuild, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["sft", "kto"]), name="example_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind="sft", label__isnull=True) | Q(kind="kto", label__isnull=False),
                name="example_label_for_kto_only",
            ),
            models.CheckConstraint(
                condition=Q(source__in=PairSource.values), name="example_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "source", "campaign", "is_active"], name="example_scope")
        ]

    def __str__(self) -> str:
        return f"{self.kind} example {self.pk}"
