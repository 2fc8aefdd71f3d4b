"""Labeling tasks, their items, the annotations people (and AI judges) give, reviews and
spot-check batches.

An annotation is never edited in place: a review (cross-review or expert spot-check) is its own
row and only ``Annotation.status`` (derived from the latest review) moves. Answers are JSON in one
shape per question kind (see ``labeling.services.values``):

- labels:     {"labels": [label_id, ...]}
- score:      {"score": 1..5}
- text:       {"text": "..."}
- preference: {"preference": "a" | "b" | "tie"}  (a = the pair's chosen / the first output,
  b = the pair's rejected / the second output; pages show the two in a per-item random order)
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ItemKind(models.TextChoices):
    PROMPT = "prompt"
    OUTPUT = "output"
    PAIR = "pair", "preference pair"


class QuestionKind(models.TextChoices):
    LABELS = "labels", "labels from the taxonomy"
    SCORE = "score", "1-5 expert score"
    TEXT = "text", "free text"
    PREFERENCE = "preference", "which answer is better"


class Audience(models.TextChoices):
    USER = "user", "users (role rater)"
    STAFF = "staff", "staff (roles agent, pm)"
    EXPERT = "expert", "experts (role expert)"


class TaskStatus(models.TextChoices):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class LabelingTask(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    item_kind = models.CharField(max_length=10, choices=ItemKind.choices)
    question_kind = models.CharField(max_length=12, choices=QuestionKind.choices)
    labels = models.ManyToManyField(
        "evalhub.Label", blank=True, related_name="+", help_text="The allowed answers (labels)."
    )
    multi_select = models.BooleanField(default=False)
    rubric = models.TextField(blank=True, help_text="Markdown: the guide shown to labelers.")
    audience = models.CharField(max_length=8, choices=Audience.choices, default=Audience.USER)
    k = models.PositiveSmallIntegerField(default=3, help_text="Human labels wanted per item.")
    batch_size = models.PositiveSmallIntegerField(default=10)
    layer = models.PositiveSmallIntegerField(default=1)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_layers",
        help_text="The task whose disagreements this layer re-labels.",
    )
    min_agreement = models.FloatField(
        default=0.6,
        help_text="Consensus needs the majority answer's share >= this (score: spread <= 1).",
    )
    gold_share = models.FloatField(default=0.0, help_text="Share of served items that are gold.")
    gold_min_accuracy = models.FloatField(default=0.8)
    gold_min_answers = models.PositiveSmallIntegerField(default=5)
    spot_check_rate = models.FloatField(default=0.05)
    seed = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=TaskStatus.choices, default=TaskStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(item_kind__in=["prompt", "output", "pair"]),
                name="labelingtask_item_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(question_kind__in=["labels", "score", "text", "preference"]),
                name="labelingtask_question_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(audience__in=["user", "staff", "expert"]),
                name="labelingtask_audience_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "closed"]),
                name="labelingtask_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(k__gte=1) & Q(batch_size__gte=1) & Q(layer__gte=1),
                name="labelingtask_counts_positive",
            ),
            models.CheckConstraint(
                condition=Q(gold_share__gte=0) & Q(gold_share__lte=1),
                name="labelingtask_gold_share_range",
            ),
            models.CheckConstraint(
                condition=Q(spot_check_rate__gt=0) & Q(spot_check_rate__lte=1),
                name="labelingtask_spot_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(min_agreement__gt=0) & Q(min_agreement__lte=1),
                name="labelingtask_min_agreement_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (layer {self.layer})"


class ItemState(models.TextChoices):
    OPEN = "open"
    CONSENSUS = "consensus"
    DISAGREED = "disagreed"


class TaskItem(models.Model):
    """One thing to label: a prompt, an output (optionally with a second output, for a
    preference between two outputs) or a preference pair."""

    task = models.ForeignKey(LabelingTask, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(
        "evalhub.Prompt", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    output = models.ForeignKey(
        "evalhub.Output", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    output_b = models.ForeignKey(
        "evalhub.Output", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pair = models.ForeignKey(
        "training.PreferencePair",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    source_item = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_layer_items",
        help_text="The item of the parent layer this one re-labels.",
    )
    position = models.PositiveIntegerField(default=0)
    is_gold = models.BooleanField(default=False)
    gold_kind = models.CharField(
        max_length=10,
        choices=[("gold", "gold (known answer)"), ("attention", "attention check")],
        blank=True,
    )
    gold_answer = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.OPEN)
    consensus = models.JSONField(null=True, blank=True, help_text="The agreed answer.")
    agreement = models.FloatField(null=True, blank=True, help_text="Majority share.")
    applied_at = models.DateTimeField(
        null=True, blank=True, help_text="When the consensus was written to the data."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(prompt__isnull=False, output__isnull=True, pair__isnull=True)
                    | Q(prompt__isnull=True, output__isnull=False, pair__isnull=True)
                    | Q(prompt__isnull=True, output__isnull=True, pair__isnull=False)
                ),
                name="taskitem_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(output_b__isnull=True) | Q(output__isnull=False),
                name="taskitem_second_output_needs_first",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_answer__isnull=False),
                name="taskitem_gold_has_answer",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["open", "consensus", "disagreed"]),
                name="taskitem_state_valid",
            ),
        ]
        indexes = [models.Index(fields=["task", "is_gold", "state"], name="taskitem_serving")]

    def __str__(self) -> str:
        return f"item {self.pk} of task {self.task_id}"


class AnnotationStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    CORRECTED = "corrected"
    REJECTED = "rejected"


class Annotation(models.Model):
    """One answer to one item, by a person (``labeler``) or an AI judge (``is_ai``, ``ai_model``).

    AI pre-labels are created by ``labeling.services.annotations.annotation_create_ai``; they never
    count toward ``k`` nor toward consensus unless a person accepted them in review.
    """

    item = models.ForeignKey(TaskItem, on_delete=models.CASCADE, related_name="annotations")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="annotations",
    )
    value = models.JSONField()
    is_ai = models.BooleanField(default=False)
    ai_model = models.ForeignKey(
        "evalhub.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    ai_rationale = models.TextField(blank=True)
    ai_confidence = models.FloatField(null=True, blank=True)
    meta = models.JSONField(default=dict, blank=True, help_text="e.g. the judge prompt version.")
    status = models.CharField(
        max_length=10, choices=AnnotationStatus.choices, default=AnnotationStatus.PENDING
    )
    is_gold_check = models.BooleanField(default=False, help_text="Given on a gold item.")
    gold_correct = models.BooleanField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Time taken.")
    comment = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="For AI annotations: who asked for them.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "labeler"],
                condition=Q(is_ai=False),
                name="annotation_one_per_labeler",
            ),
            models.UniqueConstraint(
                fields=["item", "ai_model"],
                condition=Q(is_ai=True),
                name="annotation_one_per_ai_model",
            ),
            models.CheckConstraint(
                condition=Q(is_ai=False, labeler__isnull=False, ai_model__isnull=True)
                | Q(is_ai=True, labeler__isnull=True, ai_model__isnull=False),
                name="annotation_human_or_ai",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "corrected", "rejected"]),
                name="annotation_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(ai_confidence__isnull=True)
                | (Q(ai_confidence__gte=0) & Q(ai_confidence__lte=1)),
                name="annotation_ai_confidence_range",
            ),
        ]
        indexes = [models.Index(fields=["labeler", "status"], name="annotation_by_labeler")]

    def __str__(self) -> str:
        who = f"AI {self.ai_model_id}" if self.is_ai else f"user {self.labeler_id}"
        return f"annotation {self.pk} by {who} on item {self.item_id}"


class Claim(models.Model):
    """An item held by a labeler for a while (a batch claim): others are not served it, so ``k``
    is never overshot. Expired claims free the item again."""

    item = models.ForeignKey(TaskItem, on_delete=models.CASCADE, related_name="claims")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    expires_at = models.DateTimeField(db_index=True)
    skipped = models.BooleanField(
        default=False, help_text="The labeler passed on it: never served to them again."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "labeler"], name="claim_one_per_labeler")
        ]

    def __str__(self) -> str:
        return f"claim of item {self.item_id} by {self.labeler_id}"


class SpotCheckBatch(models.Model):
    """A reproducible uniform sample (``rate``, ``seed``) of a task's human annotations for an
    expert to accept, correct or reject."""

    task = models.ForeignKey(LabelingTask, on_delete=models.PROTECT, related_name="spot_checks")
    rate = models.FloatField()
    seed = models.BigIntegerField()
    population = models.PositiveIntegerField(default=0, help_text="Annotations sampled from.")
    annotations = models.ManyToManyField(
        Annotation, through="SpotCheckEntry", related_name="spot_check_batches"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gt=0) & Q(rate__lte=1), name="spotcheckbatch_rate_range"
            )
        ]

    def __str__(self) -> str:
        return f"spot-check {self.pk} of task {self.task_id}"


class SpotCheckEntry(models.Model):
    batch = models.ForeignKey(SpotCheckBatch, on_delete=models.CASCADE, related_name="entries")
    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "annotation"], name="spotentry_unique"),
            models.UniqueConstraint(fields=["batch", "position"], name="spotentry_position"),
        ]

    def __str__(self) -> str:
        return f"entry {self.position} of spot-check {self.batch_id}"


class ReviewKind(models.TextChoices):
    CROSS = "cross", "cross-review"
    SPOT = "spot", "expert spot-check"


class Verdict(models.TextChoices):
    ACCEPT = "accept"
    CORRECT = "correct"
    REJECT = "reject"


class Review(models.Model):
    """A verdict on an annotation; never edited (a later review supersedes an earlier one)."""

    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=6, choices=ReviewKind.choices)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    corrected_value = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    batch = models.ForeignKey(
        SpotCheckBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "reviewer", "kind"], name="review_once_per_reviewer"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["cross", "spot"]), name="review_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(verdict__in=["accept", "correct", "reject"]),
                name="review_verdict_valid",
            ),
            models.CheckConstraint(
                condition=Q(verdict="correct", corrected_value__isnull=False)
                | ~Q(verdict="correct"),
                name="review_correction_has_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.verdict} of annotation {self.annotation_id}"


class LabelerExclusion(models.Model):
    """A labeler whose answers in a task no longer count (flagged by gold accuracy, or by hand)."""

    task = models.ForeignKey(LabelingTask, on_delete=models.CASCADE, related_name="exclusions")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    gold_accuracy = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "labeler"], name="labelerexclusion_unique")
        ]

    def __str__(self) -> str:
        return f"user {self.labeler_id} excluded from task {self.task_id}"
