"""Prompts (Alpaca fields + conversation history), their labels, and the outputs models gave."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: two prompts that differ only in that are one."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().casefold()


def prompt_content_hash(
    *, instruction: str, input: str = "", system: str = "", history: list[Any] | None = None
) -> str:
    """sha256 of the normalized prompt fields; the identity used to find duplicates."""
    payload = {
        "system": normalize_text(system),
        "history": [[normalize_text(str(turn)) for turn in pair] for pair in (history or [])],
        "instruction": normalize_text(instruction),
        "input": normalize_text(input),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def params_hash(params: dict[str, Any]) -> str:
    """A short stable hash of generation parameters (part of an output's identity)."""
    return hashlib.sha256(
        json.dumps(params or {}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


class Label(models.Model):
    """A node of the label taxonomy (a tree through ``parent``).

    Renames and merges never lose history: each change is a ``LabelEvent``; a merged label stays
    (``merged_into`` the survivor, inactive) so old references and reports can still be explained.
    """

    name = models.CharField(max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    is_active = models.BooleanField(default=True, db_default=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("label_items", "Can work on labeling tasks"),
            ("review_labels", "Can review and spot-check labels (expert)"),
            ("manage_data", "Can manage sources, the taxonomy, labeling tasks and AI assistance"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        ancestor = self.parent
        while ancestor is not None:
            if ancestor.pk == self.pk:
                raise ValidationError({"parent": "Labels cannot form a cycle."})
            ancestor = ancestor.parent


class LabelEvent(models.Model):
    """One change to the taxonomy: what it was before and after, who did it, which items moved."""

    class Action(models.TextChoices):
        CREATE = "create"
        RENAME = "rename"
        DESCRIBE = "describe"
        MOVE = "move"
        MERGE = "merge"

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=10, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    moved = models.JSONField(
        default=dict, blank=True, help_text="Ids of the items a merge moved, by kind."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=["create", "rename", "describe", "move", "merge"]),
                name="labelevent_action_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.label_id}"


class Prompt(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train"
        VAL = "val"
        TEST = "test"
        UNASSIGNED = "unassigned"

    instruction = models.TextField()
    input = models.TextField(blank=True)
    system = models.TextField(blank=True)
    history = models.JSONField(default=list, blank=True, help_text="[[user, assistant], ...] turns")
    reference = models.TextField(blank=True, help_text="A reference answer (Alpaca `output`).")
    labels = models.ManyToManyField(Label, blank=True, related_name="prompts")
    source = models.CharField(max_length=200, blank=True, help_text="Free-text note.")
    data_source = models.ForeignKey(
        "evalhub.DataSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="prompts",
    )
    origin = models.CharField(
        max_length=20,
        choices=[
            ("original", "original"),
            ("paraphrase", "paraphrase (AI)"),
            ("back_translation", "back-translation (AI)"),
        ],
        default="original",
        db_default="original",
    )
    derived_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="derived",
        help_text="The prompt an augmented prompt was made from.",
    )
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL = no id; unique when set
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.UNASSIGNED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=models.Q(external_id__isnull=False),
                name="prompt_external_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(split__in=["train", "val", "test", "unassigned"]),
                name="prompt_split_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(origin__in=["original", "paraphrase", "back_translation"]),
                name="prompt_origin_valid",
            ),
        ]

    def __str__(self) -> str:
        return (self.external_id or f"prompt {self.pk}") + ": " + self.instruction[:60]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The hash is derived data, not a business rule: keep it in step with the fields.
        self.content_hash = self.compute_hash()
        super().save(*args, **kwargs)

    def compute_hash(self) -> str:
        return prompt_content_hash(
            instruction=self.instruction, input=self.input, system=self.system, history=self.history
        )

    def clean(self) -> None:
        if not (self.instruction or "").strip():
            raise ValidationError({"instruction": "A prompt needs a non-empty instruction."})
        history = self.history or []
        if not isinstance(history, list) or any(
            not isinstance(turn, list | tuple) or len(turn) != 2 for turn in history
        ):
            raise ValidationError({"history": "History must be a list of [user, assistant] pairs."})

    def as_messages(self) -> list[dict[str, str]]:
        """OpenAI-style chat messages: system, history turns, then instruction + input."""
        messages: list[dict[str, str]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        for user_turn, assistant_turn in self.history or []:
            messages.append({"role": "user", "content": str(user_turn)})
            messages.append({"role": "assistant", "content": str(assistant_turn)})
        content = self.instruction if not self.input else f"{self.instruction}\n\n{self.input}"
        messages.append({"role": "user", "content": content})
        return messages


class Output(models.Model):
    class Origin(models.TextChoices):
        GENERATED = "generated"
        IMPORTED = "imported"
        EDITED = "edited"

    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="outputs")
    model_version = models.ForeignKey(
        "evalhub.ModelVersion", on_delete=models.PROTECT, related_name="outputs"
    )
    text = models.TextField()
    sample_index = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    params_hash = models.CharField(max_length=16, editable=False)
    latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.IMPORTED)
    data_source = models.ForeignKey(
        "evalhub.DataSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outputs",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "model_version", "sample_index", "params_hash"],
                name="output_unique_sample",
            ),
            models.CheckConstraint(
                condition=models.Q(origin__in=["generated", "imported", "edited"]),
                name="output_origin_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"output {self.pk} of {self.model_version_id} on prompt {self.prompt_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.params_hash = params_hash(self.params)
        super().save(*args, **kwargs)
