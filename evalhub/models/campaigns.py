"""Campaigns, the comparisons they hold, rater assignments and votes.

Invariants live in the database: one vote per rater per comparison, a vote's outcome consistent
with the choice and the side the candidate was shown on, distinct outputs in a comparison, valid
status values. Business rules (who may vote, what is served next) live in services.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def _random_bit() -> int:
    return secrets.randbelow(2)


def _shuffle_key() -> int:
    return secrets.randbelow(2**31)


def new_assignment_token() -> str:
    return secrets.token_urlsafe(24)


class Side(models.TextChoices):
    LEFT = "left"
    RIGHT = "right"


class Outcome(models.TextChoices):
    CANDIDATE = "candidate", "candidate better"
    BASELINE = "baseline", "baseline better"
    TIE = "tie", "tie"
    BOTH_BAD = "both_bad", "both bad"


class Choice(models.TextChoices):
    LEFT = "left", "left is better"
    RIGHT = "right", "right is better"
    TIE = "tie", "tie"
    BOTH_BAD = "both_bad", "both bad"


class Campaign(models.Model):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise"
        WORKBENCH = "workbench"
        CHOICE = "choice"
        THUMBS = "thumbs"

    class Status(models.TextChoices):
        DRAFT = "draft"
        GENERATING = "generating"
        OPEN = "open"
        CLOSED = "closed"

    class TiePolicy(models.TextChoices):
        EXCLUDE = "exclude", "ties left out of the support rate (default)"
        HALF = "half", "also show the ties-as-half rate"

    name = models.CharField(max_length=200, unique=True)
    rater_title = models.CharField(
        max_length=200,
        blank=True,
        help_text="What raters see instead of the name (names often carry model names).",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAIRWISE)
    baseline = models.ForeignKey(
        "evalhub.ModelVersion", on_delete=models.PROTECT, related_name="campaigns_as_baseline"
    )
    candidate = models.ForeignKey(
        "evalhub.ModelVersion", on_delete=models.PROTECT, related_name="campaigns_as_candidate"
    )
    prompts = models.ManyToManyField("evalhub.Prompt", blank=True, related_name="campaigns")
    votes_per_prompt = models.PositiveSmallIntegerField(default=3)
    tie_policy = models.CharField(
        max_length=16, choices=TiePolicy.choices, default=TiePolicy.EXCLUDE
    )
    raters = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="rater_campaigns",
        help_text="The rater pool; empty means every user with the rater role.",
    )
    guidelines = models.TextField(blank=True, help_text="Markdown shown to raters.")
    # Rater quality: gold items (known answer) and attention checks (one answer plainly wrong)
    # are mixed into what raters are served; raters below the threshold are flagged.
    gold_share = models.FloatField(
        default=0.0,
        db_default=0.0,
        help_text="Share of served items that are gold or attention checks (0-0.5).",
    )
    gold_min_accuracy = models.FloatField(
        default=0.7, db_default=0.7, help_text="Raters below this accuracy on checks are flagged."
    )
    gold_min_answers = models.PositiveSmallIntegerField(
        default=3, db_default=3, help_text="Checks a rater must answer before they can be flagged."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("rate_campaign", "Can vote in rating campaigns"),
            ("view_reports", "Can read support-rate reports and dashboards"),
            ("manage_campaign", "Can create, open and close campaigns"),
            ("use_workbench", "Can use the agent workbench"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(baseline=models.F("candidate")), name="campaign_models_distinct"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "generating", "open", "closed"]),
                name="campaign_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["pairwise", "workbench", "choice", "thumbs"]),
                name="campaign_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(votes_per_prompt__gte=1), name="campaign_overlap_positive"
            ),
            models.CheckConstraint(
                condition=Q(gold_share__gte=0) & Q(gold_share__lte=0.5),
                name="campaign_gold_share_range",
            ),
            models.CheckConstraint(
                condition=Q(gold_min_accuracy__gte=0) & Q(gold_min_accuracy__lte=1),
                name="campaign_gold_accuracy_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.baseline_id and self.baseline_id == self.candidate_id:
            raise ValidationError({"candidate": "Baseline and candidate must be different models."})

    @property
    def display_title(self) -> str:
        """The rater-facing title: never the internal name, which may name the models."""
        return self.rater_title or f"Evaluation {str(self.pk).rjust(3, '0')}"


class Comparison(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="comparisons")
    prompt = models.ForeignKey(
        "evalhub.Prompt", on_delete=models.PROTECT, related_name="comparisons"
    )
    baseline_output = models.ForeignKey(
        "evalhub.Output", on_delete=models.PROTECT, related_name="comparisons_as_baseline"
    )
    candidate_output = models.ForeignKey(
        "evalhub.Output", on_delete=models.PROTECT, related_name="comparisons_as_candidate"
    )

    class GoldKind(models.TextChoices):
        GOLD = "gold", "gold item (known answer)"
        ATTENTION = "attention", "attention check (one answer plainly wrong)"

    is_gold = models.BooleanField(default=False)
    gold_kind = models.CharField(
        max_length=10, choices=GoldKind.choices, blank=True, default="", db_default=""
    )
    gold_outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    # Counters kept by the assignment service (all under row locks):
    vote_count = models.PositiveIntegerField(default=0)
    load = models.PositiveIntegerField(default=0, help_text="votes + live reservations")
    served_count = models.PositiveIntegerField(default=0)
    # Random start side and order key: positions alternate from a random start (balanced), and
    # raters are spread over equally-loaded comparisons in an order that says nothing.
    side_seed = models.PositiveSmallIntegerField(default=_random_bit)
    shuffle_key = models.PositiveIntegerField(default=_shuffle_key)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "baseline_output", "candidate_output"],
                name="comparison_unique_pair",
            ),
            models.CheckConstraint(
                condition=~Q(baseline_output=models.F("candidate_output")),
                name="comparison_outputs_distinct",
            ),
            models.CheckConstraint(
                condition=Q(side_seed__in=[0, 1]), name="comparison_side_seed_bit"
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False, gold_kind="")
                | Q(is_gold=True, gold_kind__in=["gold", "attention"]) & ~Q(gold_outcome=""),
                name="comparison_gold_has_answer",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "load", "shuffle_key"], name="comparison_queue")
        ]

    def __str__(self) -> str:
        return f"comparison {self.public_id}"

    def clean(self) -> None:
        if (
            self.baseline_output_id
            and self.candidate_output_id
            and (
                self.baseline_output.prompt_id != self.prompt_id
                or self.candidate_output.prompt_id != self.prompt_id
            )
        ):
            raise ValidationError("Both outputs of a comparison must answer its prompt.")


class Assignment(models.Model):
    class Status(models.TextChoices):
        SERVED = "served"
        VOTED = "voted"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    comparison = models.ForeignKey(Comparison, on_delete=models.PROTECT, related_name="assignments")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    candidate_side = models.CharField(max_length=5, choices=Side.choices)
    token = models.CharField(
        max_length=64, unique=True, default=new_assignment_token, editable=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SERVED)
    served_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "rater"], name="assignment_once_per_rater"
            ),
            models.CheckConstraint(
                condition=Q(candidate_side__in=["left", "right"]), name="assignment_side_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["served", "voted", "skipped", "expired"]),
                name="assignment_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="assignment_expiry"),
            models.Index(fields=["rater", "status"], name="assignment_rater_status"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


def _outcome_rule() -> Q:
    """The only (choice, candidate_side, outcome) triples a pairwise vote may hold."""
    return (
        Q(choice="tie", outcome="tie")
        | Q(choice="both_bad", outcome="both_bad")
        | Q(choice="left", candidate_side="left", outcome="candidate")
        | Q(choice="left", candidate_side="right", outcome="baseline")
        | Q(choice="right", candidate_side="right", outcome="candidate")
        | Q(choice="right", candidate_side="left", outcome="baseline")
    )


class Vote(models.Model):
    class Kind(models.TextChoices):
        PAIRWISE = "pairwise"
        WORKBENCH = "workbench"
        CHOICE = "choice"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="votes")
    comparison = models.ForeignKey(
        Comparison, null=True, blank=True, on_delete=models.PROTECT, related_name="votes"
    )
    prompt = models.ForeignKey("evalhub.Prompt", on_delete=models.PROTECT, related_name="votes")
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="vote"
    )
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="votes",
    )
    judge = models.CharField(
        max_length=200, blank=True, help_text="External judge (imported votes)."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PAIRWISE)
    channel = models.CharField(max_length=64, blank=True, default="")
    choice = models.CharField(
        max_length=16, help_text="As shown: left/right/tie/both_bad or a slot."
    )
    candidate_side = models.CharField(max_length=5, choices=Side.choices, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    time_taken_ms = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    source_key = models.CharField(  # noqa: DJ001 - NULL keeps the partial unique constraint simple
        max_length=200,
        null=True,
        blank=True,
        help_text="Where the vote came from outside a rating page (import record, feedback record).",
    )
    is_simulated = models.BooleanField(default=False)
    data_source = models.ForeignKey(
        "evalhub.DataSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="votes",
    )
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "rater"],
                condition=Q(kind="pairwise", supersedes__isnull=True, rater__isnull=False),
                name="vote_once_per_rater",
            ),
            models.UniqueConstraint(
                fields=["campaign", "source_key"],
                condition=Q(source_key__isnull=False),
                name="vote_source_once",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=["candidate", "baseline", "tie", "both_bad"]),
                name="vote_outcome_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["pairwise", "workbench", "choice"]), name="vote_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind="pairwise") | _outcome_rule(), name="vote_outcome_matches_choice"
            ),
        ]
        indexes = [models.Index(fields=["campaign", "prompt", "outcome"], name="vote_by_prompt")]

    def __str__(self) -> str:
        return f"vote {self.pk}: {self.outcome}"


class RaterExclusion(models.Model):
    """An admin's decision to leave a flagged rater's votes out of a campaign's reports.

    Votes are never deleted: reports filter them out while the exclusion exists, and show the
    support rate before and after. Deleting the exclusion brings the votes back.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="exclusions")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaign_exclusions"
    )
    reason = models.TextField(blank=True)
    gold_accuracy = models.FloatField(null=True, blank=True, help_text="At the time of decision.")
    gold_answers = models.PositiveIntegerField(default=0)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "rater"]
        constraints = [models.UniqueConstraint(fields=["campaign", "rater"], name="exclusion_once")]

    def __str__(self) -> str:
        return f"rater {self.rater_id} excluded from campaign {self.campaign_id}"
