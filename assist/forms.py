"""Forms of the /assist/ pages (input parsing only; rules live in the services)."""

from __future__ import annotations

from typing import Any

from django import forms

from assist.models import AugmentationRun, JudgeRun
from evalhub.models import Campaign, ModelVersion
from labeling.models import LabelingTask


def _askable_models() -> Any:
    return ModelVersion.objects.exclude(backend=ModelVersion.Backend.IMPORTED).order_by("name")


class JudgeRunForm(forms.Form):
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.order_by("-id"))
    judge = forms.ModelChoiceField(
        queryset=_askable_models(), to_field_name="name", help_text="Any model with a backend."
    )
    kind = forms.ChoiceField(choices=JudgeRun.Kind.choices, initial=JudgeRun.Kind.PAIRS)
    both_orders = forms.BooleanField(required=False, initial=True, label="Both orders (A/B, B/A)")
    limit = forms.IntegerField(min_value=1, required=False, help_text="At most N items.")
    min_agreement_n = forms.IntegerField(
        min_value=1, required=False, label="Human-voted comparisons needed before approval"
    )
    quality_threshold = forms.IntegerField(min_value=1, max_value=5, initial=3)


class AugmentForm(forms.Form):
    model = forms.ModelChoiceField(queryset=_askable_models(), to_field_name="name")
    method = forms.ChoiceField(choices=AugmentationRun.Method.choices)
    label = forms.CharField(required=False)
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.order_by("-id"), required=False)
    source = forms.CharField(required=False, help_text="A data source name or source note.")
    prompt_ids = forms.CharField(required=False, help_text="Ids, comma-separated.")
    per_prompt = forms.IntegerField(min_value=1, max_value=10, initial=1)
    pivot_language = forms.CharField(initial="French", required=False)

    def clean_prompt_ids(self) -> list[int]:
        raw = self.cleaned_data.get("prompt_ids") or ""
        try:
            return [int(part) for part in raw.replace(" ", ",").split(",") if part.strip()]
        except ValueError as exc:
            raise forms.ValidationError("Prompt ids are whole numbers, comma-separated.") from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(k) for k in ("label", "campaign", "source", "prompt_ids")):
            raise forms.ValidationError("Choose the prompts: a label, campaign, source or ids.")
        return data


class PrelabelForm(forms.Form):
    task = forms.ModelChoiceField(
        queryset=LabelingTask.objects.filter(
            question_kind__in=["preference", "score", "labels"]
        ).order_by("-id"),
        label="Labeling task",
    )
    approved_run = forms.ModelChoiceField(
        queryset=JudgeRun.objects.filter(kind="pairs", approved_at__isnull=False)
        .select_related("judge")
        .order_by("-id"),
        label="Approved judge run (its judge pre-labels)",
    )
    both_orders = forms.BooleanField(required=False, initial=True, label="Both orders")
    limit = forms.IntegerField(min_value=1, required=False)
