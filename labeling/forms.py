"""The manager's task form (the page calls ``labeling_task_create`` with its cleaned data)."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from evalhub.models import Label
from labeling.models import Audience, ItemKind, QuestionKind

ITEMS_HELP = (
    "One item per line: an id (a prompt, output or pair id, by the item kind), two output ids "
    'as "12:13" for a preference between outputs, or a JSON object such as '
    '{"prompt": 5, "gold_answer": {"labels": [3]}} for a gold item.'
)


def parse_items(text: str, item_kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                spec = json.loads(line)
            except ValueError as exc:
                raise forms.ValidationError(f"Line {number}: not valid JSON ({exc}).") from exc
            if not isinstance(spec, dict):
                raise forms.ValidationError(f"Line {number}: give an object.")
            items.append(spec)
        elif ":" in line and item_kind == ItemKind.OUTPUT:
            first, _, second = line.partition(":")
            if not (first.strip().isdecimal() and second.strip().isdecimal()):
                raise forms.ValidationError(f"Line {number}: give two output ids as 12:13.")
            items.append({"output": int(first), "output_b": int(second)})
        elif line.isdecimal() and len(line) < 15:
            items.append({item_kind: int(line)})
        else:
            raise forms.ValidationError(f"Line {number}: {line[:40]!r} is not an item.")
    return items


class TaskForm(forms.Form):
    name = forms.CharField(max_length=200)
    item_kind = forms.ChoiceField(choices=ItemKind.choices)
    question_kind = forms.ChoiceField(choices=QuestionKind.choices)
    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.filter(is_active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The answers a labeler picks from.",
    )
    label_root = forms.ModelChoiceField(
        queryset=Label.objects.filter(is_active=True),
        required=False,
        help_text="Or a whole subtree: this label and every active label under it.",
    )
    multi_select = forms.BooleanField(required=False)
    rubric = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                             help_text="Markdown, shown to labelers.")  # fmt: skip
    audience = forms.ChoiceField(choices=Audience.choices, initial=Audience.USER)
    k = forms.IntegerField(min_value=1, max_value=50, initial=3, label="Labels per item (k)")
    batch_size = forms.IntegerField(min_value=1, max_value=500, initial=10)
    min_agreement = forms.FloatField(min_value=0.01, max_value=1, initial=0.6,
                                     help_text="Majority share needed for consensus.")  # fmt: skip
    gold_share = forms.FloatField(min_value=0, max_value=1, initial=0.0)
    gold_min_accuracy = forms.FloatField(min_value=0, max_value=1, initial=0.8)
    gold_min_answers = forms.IntegerField(min_value=1, max_value=1000, initial=5)
    spot_check_rate = forms.FloatField(min_value=0.001, max_value=1, initial=0.05)
    seed = forms.IntegerField(min_value=0, max_value=2**62, initial=0)
    items = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False,
                            help_text=ITEMS_HELP)  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "item_kind" in data:
            data["items"] = parse_items(data.get("items") or "", data["item_kind"])
        return data


class SpotCheckForm(forms.Form):
    rate = forms.FloatField(min_value=0.001, max_value=1, required=False)
    seed = forms.IntegerField(min_value=0, max_value=2**62, required=False)
