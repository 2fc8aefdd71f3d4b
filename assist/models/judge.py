"""An LLM judge's run over a campaign and what it said about each item.

A pairs run asks the judge about each comparison in both orders (the candidate's answer in slot
A, then in slot B) so that the judge's position bias cancels; a verdict whose two orders disagree
is *inconsistent* and counts as a tie. A quality run scores single outputs on a 1-5 rubric and
flags those below a threshold. Either way the labels are AI labels: they can be used only once the
run's agreement with human votes was measured on enough comparisons and a manager approved it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class JudgeRun(models.Model):
    class Kind(models.TextChoices):
        PAIRS = "pairs", "judge pairs (A/B)"
        QUALITY = "quality", "score single outputs (1-5)"
        PRELABEL = "prelabel", "pre-label a labeling task"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PAIRS)
    judge = models.ForeignKey(
        "evalhub.ModelVersion",
        on_delete=models.PROTECT,
        related_name="judge_runs",
        help_text="The model version that judges (any registered version with a backend).",
    )
    campaign = models.ForeignKey(
        "evalhub.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="judge_runs",
        help_text="Pairs and quality runs: the campaign judged.",
    )
    labeling_task = models.ForeignKey(
        "labeling.LabelingTask",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Pre-label runs: the labeling task whose items get AI pre-labels.",
    )
    authorised_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Pre-label runs: the approved pairs run of the same judge that allows them.",
    )
    template = models.TextField(help_text="The prompt template sent to the judge.")
    both_orders = models.BooleanField(
        default=True, help_text="Ask A/B and B/A, to cancel the judge's position bias."
    )
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Judge at most N items.")
    min_agreement_n = models.PositiveIntegerField(
        default=30,
        help_text="Human-voted comparisons the agreement must rest on before approval.",
    )
    quality_threshold = models.PositiveSmallIntegerField(
        default=3, help_text="Quality runs: outputs scored below this are flagged."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey(
        "evalhub.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    counts = models.JSONField(default=dict, blank=True)
    agreement = models.JSONField(
        default=dict, blank=True, help_text="Agreement with the human majority (pairs runs)."
    )
    agreement_measured_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["pairs", "quality"], campaign__isnull=False)
                | Q(kind="prelabel", labeling_task__isnull=False, authorised_by__isnull=False),
                name="judgerun_kind_has_subject",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="judgerun_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(approved_at__isnull=True) | Q(approved_by__isnull=False),
                name="judgerun_approval_has_approver",
            ),
            models.CheckConstraint(
                condition=Q(quality_threshold__gte=1) & Q(quality_threshold__lte=5),
                name="judgerun_threshold_on_rubric",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"judge run {self.pk} ({self.kind}) by {self.judge_id} on campaign {self.campaign_id}"
        )

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


class JudgeVerdict(models.Model):
    """What the judge said about one comparison (both orders) or one output (a 1-5 score)."""

    class Slot(models.TextChoices):
        A = "A"
        B = "B"
        TIE = "tie"
        INVALID = "invalid", "unparseable answer"

    class Outcome(models.TextChoices):
        CANDIDATE = "candidate"
        BASELINE = "baseline"
        TIE = "tie"
        INCONSISTENT = "inconsistent", "inconsistent across orders (a tie)"
        INVALID = "invalid", "no usable answer"

    run = models.ForeignKey(JudgeRun, on_delete=models.CASCADE, related_name="verdicts")
    comparison = models.ForeignKey(
        "evalhub.Comparison", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    output = models.ForeignKey(
        "evalhub.Output", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    task_item = models.ForeignKey(
        "labeling.TaskItem", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    value = models.JSONField(
        null=True, blank=True, help_text="Pre-labels: the answer stored as an AI annotation."
    )
    candidate_slot = models.CharField(
        max_length=1, blank=True, help_text="Where the candidate sat in the first (AB) order."
    )
    verdict_ab = models.CharField(max_length=8, choices=Slot.choices, blank=True)
    verdict_ba = models.CharField(max_length=8, choices=Slot.choices, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Quality: 1-5.")
    raw_ab = models.TextField(blank=True)
    raw_ba = models.TextField(blank=True)
    latency_ms_ab = models.FloatField(null=True, blank=True)
    latency_ms_ba = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "comparison"],
                condition=Q(comparison__isnull=False),
                name="judgeverdict_one_per_comparison",
            ),
            models.UniqueConstraint(
                fields=["run", "output"],
                condition=Q(output__isnull=False),
                name="judgeverdict_one_per_output",
            ),
            models.UniqueConstraint(
                fields=["run", "task_item"],
                condition=Q(task_item__isnull=False),
                name="judgeverdict_one_per_task_item",
            ),
            models.CheckConstraint(
                condition=Q(comparison__isnull=False)
                | Q(output__isnull=False)
                | Q(task_item__isnull=False),
                name="judgeverdict_has_subject",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=1) & Q(score__lte=5),
                name="judgeverdict_score_on_rubric",
            ),
            models.CheckConstraint(
                condition=Q(
                    outcome__in=["", "candidate", "baseline", "tie", "inconsistent", "invalid"]
                ),
                name="judgeverdict_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        if self.comparison_id:
            subject = f"comparison {self.comparison_id}"
        elif self.output_id:
            subject = f"output {self.output_id}"
        else:
            subject = f"labeling item {self.task_item_id}"
        return f"AI verdict on {subject}: {self.outcome or self.score or self.value}"
