"""Writing a build's rows: insert the new, update the changed, retire the vanished.

The rows of one source and scope are compared with what the table holds (by content hash), so a
rebuild that finds nothing new writes nothing. Writes are plain SQL, the same on SQLite and
PostgreSQL (multi-row inserts, batched updates): the ORM's ``bulk_create`` spent about half a
millisecond per row preparing values, ten times what the database needed
(``benchmarks/pairs_speed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

BATCH = 2000


@dataclass(frozen=True)
class SyncResult:
    new: int
    changed: int
    retired: int


def _quote(name: str) -> str:
    return str(connection.ops.quote_name(name))


def _executemany(sql: str, rows: list[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])


def _insert(model: Any, columns: list[str], rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """Insert many rows in few statements.

    PostgreSQL: ``INSERT ... SELECT * FROM unnest(%s::type[], ...)``, one array per column (a
    statement with thousands of placeholders spent most of its time in psycopg's client-side
    query parsing). SQLite: multi-row ``VALUES (...), (...)``.
    """
    if not rows:
        return
    head = f"INSERT INTO {_quote(model._meta.db_table)} ({', '.join(map(_quote, columns))})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = [model._meta.get_field(c).db_type(connection) for c in columns]
            unnest = ", ".join(f"%s::{t}[]" for t in types)
            for start in range(0, len(rows), 20_000):
                arrays = [list(col) for col in zip(*rows[start : start + 20_000], strict=True)]
                sql = f"{head} SELECT * FROM unnest({unnest}) {tail}"  # noqa: S608 - names from meta
                cursor.execute(sql, arrays)
            return
        per_statement = max(
            1, min(1000, (connection.features.max_query_params or 999) // len(columns))
        )
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = ", ".join([one] * len(chunk))
            cursor.execute(f"{head} VALUES {values} {tail}", [v for row in chunk for v in row])


def sync_rows(
    model: Any,
    scope: Q,
    rows: dict[str, dict[str, Any]],
    *,
    mutable: list[str],
    build_id: int,
    now: datetime,
) -> SyncResult:
    """Make the active rows of ``model`` within ``scope`` equal ``rows`` (content hash -> column
    values). New hashes are inserted, rows whose ``mutable`` columns differ (or that were retired)
    are updated, active rows not in ``rows`` are retired. Touched rows get ``last_build_id``."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    table = _quote(model._meta.db_table)
    existing = {
        content_hash: (pk, active, values)
        for content_hash, pk, active, *values in model.objects.filter(scope)
        .values_list("content_hash", "pk", "is_active", *mutable)
        .iterator(chunk_size=20_000)
    }
    inserts: list[dict[str, Any]] = []
    updates: list[tuple[Any, ...]] = []
    for content_hash, values in rows.items():
        old = existing.get(content_hash)
        if old is None:
            inserts.append({**values, "content_hash": content_hash})
        elif not old[1] or list(old[2]) != [values[c] for c in mutable]:
            updates.append((*(values[c] for c in mutable), build_id, stamp, old[0]))
    retired = [pk for h, (pk, active, _) in existing.items() if active and h not in rows]
    if inserts:
        columns = [*inserts[0], "is_active", "last_build_id", "created_at", "updated_at"]
        _insert(
            model,
            columns,
            [(*row.values(), True, build_id, stamp, stamp) for row in inserts],
            f"ON CONFLICT ({_quote('content_hash')}) DO NOTHING",
        )
    if updates:
        sets = ", ".join(f"{_quote(c)} = %s" for c in [*mutable, "last_build_id", "updated_at"])
        _executemany(
            f"UPDATE {table} SET {sets}, {_quote('is_active')} = TRUE WHERE id = %s",  # noqa: S608
            updates,
        )
    with connection.cursor() as cursor:
        for start in range(0, len(retired), 900):
            ids = retired[start : start + 900]
            cursor.execute(
                f"UPDATE {table} SET {_quote('is_active')} = FALSE, {_quote('updated_at')} = %s "  # noqa: S608
                f"WHERE id IN ({', '.join(['%s'] * len(ids))})",
                [stamp, *ids],
            )
    return SyncResult(new=len(inserts), changed=len(updates), retired=len(retired))


def attach_labels(
    through: Any, column: str, owners: list[tuple[int, int]], label_map: dict[int, list[int]]
) -> None:
    """Copy each prompt's labels onto its new rows (``owners``: (row id, prompt id)); a
    snapshot: relabelling a prompt later does not move frozen data."""
    links = [(pk, label) for pk, prompt in owners for label in label_map.get(prompt, ())]
    _insert(through, [column, "label_id"], links, "ON CONFLICT DO NOTHING")
