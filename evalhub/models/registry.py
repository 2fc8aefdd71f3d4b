"""The model registry: base models and the fine-tuned versions (adapters) derived from them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models


class ModelVersion(models.Model):
    class Backend(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible HTTP (vLLM)"
        LOCAL = "local", "local transformers + peft"
        IMPORTED = "imported", "imported outputs only"

    class Method(models.TextChoices):
        BASE = "base", "base model"
        SFT = "sft", "supervised fine-tune"
        LORA = "lora", "LoRA"
        QLORA = "qlora", "QLoRA"
        DPO = "dpo", "DPO"
        REWARD = "reward", "reward model"
        OTHER = "other", "other"

    name = models.CharField(max_length=200, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The base this version derives from; empty for a base model.",
    )
    backend = models.CharField(max_length=16, choices=Backend.choices, default=Backend.IMPORTED)
    endpoint = models.URLField(
        blank=True, help_text="OpenAI-compatible base URL, e.g. http://gpu:8000/v1"
    )
    served_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The `model` field sent to the server (base or LoRA name).",
    )
    path = models.CharField(
        max_length=1000, blank=True, help_text="Local weights or adapter folder."
    )
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.BASE)
    temperature = models.FloatField(default=0.7)
    top_p = models.FloatField(default=1.0)
    max_tokens = models.PositiveIntegerField(default=256)
    seed = models.BigIntegerField(null=True, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(backend__in=["openai", "local", "imported"]),
                name="modelversion_backend_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(temperature__gte=0)
                & models.Q(top_p__gt=0)
                & models.Q(top_p__lte=1),
                name="modelversion_sampling_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.parent_id is not None and self.parent_id == self.pk:
            raise ValidationError({"parent": "A model version cannot be its own parent."})
        if self.backend == self.Backend.OPENAI and not self.endpoint:
            raise ValidationError(
                {"endpoint": "An OpenAI-compatible model version needs an endpoint."}
            )
        if self.backend == self.Backend.LOCAL and not self.path:
            raise ValidationError({"path": "A local model version needs a path to its weights."})

    @property
    def generation_defaults(self) -> dict[str, float | int | None]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
