"""Reads of the data source registry."""

from __future__ import annotations

from django.db.models import QuerySet

from evalhub.models import DataSource
from evalhub.services.errors import NotFound


def data_sources_list(*, active_only: bool = False) -> QuerySet[DataSource]:
    sources = DataSource.objects.select_related("created_by").order_by("name")
    return sources.filter(is_active=True) if active_only else sources


def data_source_get(ref: int | str) -> DataSource:
    """A source by id or by name (case-insensitive); a clear NotFound otherwise."""
    text = str(ref).strip()
    found = None
    if text.isascii() and text.isdigit():
        found = DataSource.objects.filter(pk=int(text)).first()
    if found is None and "\x00" not in text:
        found = DataSource.objects.filter(name__iexact=text).first()
    if found is None:
        raise NotFound(
            f"No data source {text!r}; list them with `manage.py sources list` "
            "and register one with `manage.py sources add NAME --kind KIND`.",
            details={"field": "source"},
        )
    return found
