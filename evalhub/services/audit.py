"""The audit trail of campaigns, votes and model versions (``evalhub.models.AuditEvent``).

Services call :func:`audit_record` inside the transaction of the change they make. Who made it
and through which door comes from, in this order:

1. ``actor=`` / ``via=`` passed to :func:`audit_record` (a service that knows, e.g. the user who
   corrects a vote);
2. the :func:`audit_context` around the call: ``evalhub.middleware.AuditContextMiddleware``
   opens one per HTTP request (``via`` from the path: ``/admin/`` admin, ``/api/`` api, any
   other page); the request's user is read when the event is written, so a user that DRF
   authenticates by token inside the view is the one recorded;
3. otherwise the command line: ``via="cli"`` and the command that ran as ``actor_name``
   (``manage.py open_campaign``, ``manage.py worker`` for background jobs).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from evalhub.models import AuditEvent

VIA_VALUES = frozenset(AuditEvent.Via.values)


@dataclass(frozen=True)
class AuditContext:
    via: str
    actor: Any = None
    request: Any = None  # an HttpRequest: its user is read when an event is written

    def current_actor(self) -> Any:
        if self.actor is not None:
            return self.actor
        return getattr(self.request, "user", None)


_context: ContextVar[AuditContext | None] = ContextVar("evalhub_audit_context", default=None)


@contextlib.contextmanager
def audit_context(*, via: str, actor: Any = None, request: Any = None) -> Iterator[AuditContext]:
    """Changes made inside are attributed to ``actor`` (or ``request.user``) through ``via``."""
    if via not in VIA_VALUES:
        raise ValueError(f"via must be one of {sorted(VIA_VALUES)}, got {via!r}")
    token = _context.set(AuditContext(via=via, actor=actor, request=request))
    try:
        yield _context.get()  # type: ignore[misc]
    finally:
        _context.reset(token)


def audit_via_for_path(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditEvent.Via.ADMIN
    if path.startswith("/api/"):
        return AuditEvent.Via.API
    return AuditEvent.Via.PAGE


def _command_line() -> str:
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program == "manage.py" and len(sys.argv) > 1:
        return f"manage.py {sys.argv[1]}"
    return program


def json_safe(value: Any) -> Any:
    """Dates, decimals, UUIDs... as JSON text (what a JSONField can hold)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def audit_snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The instance's concrete field values (foreign keys as ids), JSON-safe."""
    wanted = set(fields) if fields is not None else None
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if wanted is not None and field.name not in wanted and field.attname not in wanted:
            continue
        values[field.attname] = getattr(instance, field.attname)
    return json_safe(values)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    return (
        {k: before[k] for k in keys if k in before},
        {k: after[k] for k in keys if k in after},
    )


def audit_record(
    *,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
    actor: Any = None,
    via: str | None = None,
) -> AuditEvent:
    """Write one audit event; only the fields whose values differ are kept in before/after.

    Call it inside the transaction of the change (it is rolled back with it).
    """
    context = _context.get()
    if via is None:
        via = context.via if context is not None else AuditEvent.Via.CLI
    if via not in VIA_VALUES:
        raise ValueError(f"via must be one of {sorted(VIA_VALUES)}, got {via!r}")
    if actor is None and context is not None:
        actor = context.current_actor()
    if not getattr(actor, "is_authenticated", False):
        actor = None
    actor_name = actor.get_username() if actor is not None else ""
    if actor is None and via == AuditEvent.Via.CLI:
        actor_name = _command_line()
    old, new = _diff(json_safe(before or {}), json_safe(after or {}))
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor_name[:200],
        action=action[:64],
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        before=old,
        after=new,
        note=note[:500],
        via=via,
    )
