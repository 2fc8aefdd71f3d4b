"""Forms of the training pages: build pairs, freeze a dataset version, start a training run.

They parse input only; the services validate the business rules and their errors are shown on
the form (``add_error``).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from evalhub.models import Campaign, Label, ModelVersion
from training.models import DatasetVersion
from training.models.pairs import PairSource
from training.services.pairs import BUILDABLE
from training.services.splits import parse_ratios


class PairsBuildForm(forms.Form):
    sources = forms.MultipleChoiceField(
        choices=[(s, PairSource(s).label) for s in BUILDABLE],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every source.",
    )
    campaigns = forms.ModelMultipleChoiceField(
        queryset=Campaign.objects.order_by("-created_at"), required=False,
        help_text="None selected: every campaign.",
    )  # fmt: skip
    include_simulated = forms.BooleanField(required=False, label="Include simulated votes")


class DatasetFreezeForm(forms.Form):
    name = forms.CharField(max_length=200)
    campaigns = forms.ModelMultipleChoiceField(
        queryset=Campaign.objects.order_by("-created_at"), required=False
    )
    sources = forms.MultipleChoiceField(
        choices=PairSource.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.order_by("name"), required=False, to_field_name="name"
    )
    since = forms.DateTimeField(required=False, help_text="Pairs built from (YYYY-MM-DD).")
    until = forms.DateTimeField(required=False, help_text="Pairs built before.")
    min_strength = forms.IntegerField(min_value=1, initial=1)
    min_agreement = forms.FloatField(min_value=0, max_value=1, initial=0)
    split = forms.CharField(initial="80/10/10", help_text="train/val/test: 70-80 / 10-15 / 10-15.")
    seed = forms.IntegerField(min_value=0, initial=0)
    near_duplicate_threshold = forms.FloatField(min_value=0.05, max_value=1, initial=0.8)
    include_examples = forms.BooleanField(required=False, initial=True, label="SFT and KTO rows")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_split(self) -> dict[str, float]:
        try:
            return parse_ratios(self.cleaned_data["split"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def job_filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "campaigns": [c.pk for c in data["campaigns"]],
            "sources": list(data["sources"]),
            "labels": [label.name for label in data["labels"]],
            "since": data["since"].isoformat() if data["since"] else None,
            "until": data["until"].isoformat() if data["until"] else None,
            "min_strength": data["min_strength"],
            "min_agreement": data["min_agreement"],
            "include_examples": data["include_examples"],
        }


class TrainingRunForm(forms.Form):
    """The common settings as fields; anything else of training/ml/config.py as JSON."""

    dataset = forms.ModelChoiceField(queryset=DatasetVersion.objects.order_by("-created_at"))
    start_model = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(backend="local").exclude(path="").order_by("name"),
        help_text="A local base, or an adapter to continue (DPO then uses it as the reference).",
    )
    method = forms.ChoiceField(choices=[("dpo", "DPO"), ("sft", "SFT"), ("reward", "reward model")])
    compare_against = forms.ModelChoiceField(
        queryset=ModelVersion.objects.order_by("name"), required=False,
        help_text="Baseline of the follow-up campaign; empty: the current best.",
    )  # fmt: skip
    name = forms.CharField(max_length=200, required=False)
    learning_rate = forms.FloatField(required=False, help_text="Empty: TRL's default per method.")
    num_train_epochs = forms.FloatField(required=False, min_value=0.01)
    max_steps = forms.IntegerField(required=False, min_value=1)
    per_device_train_batch_size = forms.IntegerField(initial=8, min_value=1, label="Batch size")
    gradient_accumulation_steps = forms.IntegerField(initial=1, min_value=1)
    max_length = forms.IntegerField(initial=1024, min_value=16, label="Max length (tokens)")
    lora_r = forms.IntegerField(initial=16, min_value=1, label="LoRA r")
    lora_alpha = forms.IntegerField(initial=32, min_value=1, label="LoRA alpha")
    lora_dropout = forms.FloatField(initial=0.05, min_value=0, max_value=0.99)
    beta = forms.FloatField(required=False, help_text="DPO only; empty: 0.1.")
    loss_type = forms.CharField(required=False, help_text="DPO only, e.g. sigmoid or sigmoid,sft.")
    qlora = forms.BooleanField(required=False, label="QLoRA (4-bit base; CUDA + bitsandbytes)")
    extra = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Other settings as JSON, e.g. {"save_steps": 100, "seed": 1}.',
    )  # fmt: skip

    def clean_extra(self) -> dict[str, Any]:
        text = self.cleaned_data["extra"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object of settings.")
        return value

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        config: dict[str, Any] = {
            key: data[key]
            for key in ("learning_rate", "num_train_epochs", "max_steps",
                        "per_device_train_batch_size", "gradient_accumulation_steps", "max_length")
            if data.get(key) is not None
        }  # fmt: skip
        config["lora"] = {"r": data["lora_r"], "alpha": data["lora_alpha"],
                          "dropout": data["lora_dropout"]}  # fmt: skip
        if data["method"] == "dpo":
            if data.get("beta") is not None:
                config["beta"] = data["beta"]
            if data.get("loss_type"):
                config["loss_type"] = [t.strip() for t in data["loss_type"].split(",") if t.strip()]
        if data["qlora"]:
            config["qlora"] = True
        config.update(data["extra"])
        return config
