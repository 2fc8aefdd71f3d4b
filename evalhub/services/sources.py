"""The data source registry: create and update sources (evalhub.manage_data), audited.

A source is never deleted once data points to it (the foreign keys PROTECT); retire one with
``is_active=False``: a retired source takes no new records through the continuous import.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from evalhub.models import DataSource
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput

EDITABLE = ("name", "kind", "owner", "licence", "quality_grade", "description", "url", "is_active")


def _validated(source: DataSource) -> None:
    source.name = (source.name or "").strip()
    if not source.name:
        raise InvalidInput("A data source needs a name.", details={"field": "name"})
    if "\x00" in source.name:
        raise InvalidInput("A name cannot hold a NUL character.", details={"field": "name"})
    try:
        source.full_clean(exclude=["created_by", "name"])
    except ValidationError as exc:
        field = next(iter(exc.message_dict), "source")
        raise InvalidInput(
            f"{field}: {'; '.join(exc.message_dict[field])}",
            details={"field": field, "errors": exc.message_dict},
        ) from exc
    duplicate = DataSource.objects.filter(name__iexact=source.name).exclude(pk=source.pk)
    if duplicate.exists():
        raise Conflict(
            f"A data source named {source.name!r} already exists.", details={"field": "name"}
        )


def data_source_create(
    *,
    name: str,
    kind: str,
    owner: str = "",
    licence: str = "",
    quality_grade: str = DataSource.Grade.C,
    description: str = "",
    url: str = "",
    created_by: AbstractBaseUser | None = None,
) -> DataSource:
    """Register a source; names are unique regardless of case."""
    source = DataSource(
        name=name,
        kind=kind,
        owner=owner,
        licence=licence,
        quality_grade=quality_grade,
        description=description,
        url=url,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    _validated(source)
    with transaction.atomic():
        source.save()
        audit_record(action="datasource.create", obj=source, after=audit_snapshot(source))
    return source


def data_source_update(*, source: DataSource, **changes: Any) -> DataSource:
    """Change any of ``EDITABLE``; only the fields that differ are recorded in the audit trail."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(
            f"Cannot change {', '.join(unknown)}; editable: {', '.join(EDITABLE)}.",
            details={"field": unknown[0]},
        )
    with transaction.atomic():
        locked = DataSource.objects.select_for_update().get(pk=source.pk)
        before = audit_snapshot(locked)
        for field, value in changes.items():
            setattr(locked, field, value)
        _validated(locked)
        locked.save()
        audit_record(
            action="datasource.change", obj=locked, before=before, after=audit_snapshot(locked)
        )
    return locked
