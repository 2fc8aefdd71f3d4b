"""Admin for the data platform: the source registry (changes go through the audited services)
and the taxonomy history (read-only: a history that can be edited is not one)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from evalhub.models import DataSource, LabelEvent
from evalhub.services.errors import ServiceError
from evalhub.services.sources import EDITABLE, data_source_create, data_source_update


class DataSourceAdminForm(forms.ModelForm):
    url = forms.URLField(
        required=False, assume_scheme="https", help_text=DataSource.url.field.help_text
    )

    class Meta:
        model = DataSource
        fields = list(EDITABLE)

    def clean_name(self) -> str:
        name = (self.cleaned_data.get("name") or "").strip()
        taken = DataSource.objects.filter(name__iexact=name).exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(f"A data source named {name!r} already exists.")
        return name


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceAdminForm
    list_display = ["name", "kind", "quality_grade", "owner", "is_active", "created_at"]
    list_filter = ["kind", "quality_grade", "is_active"]
    search_fields = ["name", "owner", "description"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: DataSource, form: Any, change: bool) -> None:
        values = {
            field: form.cleaned_data[field] for field in EDITABLE if field in form.cleaned_data
        }
        try:
            if change:
                stored = DataSource.objects.get(pk=obj.pk)
                data_source_update(source=stored, **values)
            else:
                values.pop("is_active", None)
                created = data_source_create(created_by=request.user, **values)
                obj.pk = created.pk
        except ServiceError as exc:  # the form checked the rest; a race lands here
            messages.error(request, str(exc))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # data points to sources (PROTECT): retire one with is_active instead


@admin.register(LabelEvent)
class LabelEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "label", "action", "actor"]
    list_filter = ["action"]
    search_fields = ["label__name"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in LabelEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
