"""Forms of the /data/ pages: a data source, and the taxonomy changes."""

from __future__ import annotations

from typing import Any

from django import forms

from evalhub.models import Campaign, DataSource, Label


class DataSourceForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=DataSource.Kind.choices)
    owner = forms.CharField(max_length=200, required=False, help_text="Team or person.")
    quality_grade = forms.ChoiceField(choices=DataSource.Grade.choices, initial="C")
    licence = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    url = forms.URLField(required=False, assume_scheme="https")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    is_active = forms.BooleanField(
        required=False, initial=True, help_text="A retired source takes no new records."
    )

    @classmethod
    def for_source(cls, source: DataSource, data: Any = None) -> DataSourceForm:
        initial = {name: getattr(source, name) for name in cls.base_fields}
        return cls(data, initial=initial)


def _labels() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Label.objects.filter(merged_into__isnull=True).order_by("name"),
        required=False,
        empty_label="(top level)",
    )


class LabelCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    parent = _labels()
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class LabelRenameForm(forms.Form):
    name = forms.CharField(max_length=100, label="New name")


class LabelDescribeForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class LabelMoveForm(forms.Form):
    parent = _labels()


class LabelMergeForm(forms.Form):
    into = forms.ModelChoiceField(
        queryset=Label.objects.filter(merged_into__isnull=True).order_by("name"),
        label="Merge into",
    )


class ResultsFilterForm(forms.Form):
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("-id"), required=False, empty_label="(no campaign)"
    )
    min_pairs = forms.IntegerField(min_value=0, initial=50, required=False)
    min_decisive = forms.IntegerField(min_value=0, initial=30, required=False)
