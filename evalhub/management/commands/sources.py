"""python manage.py sources list|add|update|show|push

- ``sources list [--json]``: the registry.
- ``sources add NAME --kind KIND [--owner O] [--licence L] [--grade A-D] [--url U]
  [--description D]``: register a source.
- ``sources update NAME [--name N] [--kind K] ... [--retire | --activate]``: change it.
- ``sources push NAME FILE``: append a JSON / JSON Lines file of records (prompts with
  external_id, optional outputs and labels) to the source, exactly as
  ``POST /api/v1/sources/{id}/records`` does: append-only, idempotent by external id.

Per-source figures: ``manage.py data_report --by source``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import DataSource
from evalhub.selectors.sources import data_source_get, data_sources_list
from evalhub.services.imports import import_file_read
from evalhub.services.imports.records import BATCH_MAX, source_records_import
from evalhub.services.sources import data_source_create, data_source_update

FIELDS = {"owner": "owner", "licence": "licence", "grade": "quality_grade", "url": "url"}


def _add_fields(parser: CommandParser, *, required_kind: bool) -> None:
    parser.add_argument("--kind", choices=DataSource.Kind.values, required=required_kind)
    parser.add_argument("--owner")
    parser.add_argument("--licence")
    parser.add_argument("--grade", choices=DataSource.Grade.values)
    parser.add_argument("--url")
    parser.add_argument("--description")


class Command(ServiceCommand):
    help = "The data source registry: list, add, update a source; push records to one."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List the sources.")
        listing.add_argument("--json", action="store_true")
        add = sub.add_parser("add", help="Register a source.")
        add.add_argument("name")
        _add_fields(add, required_kind=True)
        update = sub.add_parser("update", help="Change a source (by name or id).")
        update.add_argument("source")
        update.add_argument("--name", dest="new_name")
        _add_fields(update, required_kind=False)
        state = update.add_mutually_exclusive_group()
        state.add_argument("--retire", action="store_true", help="Take no new records.")
        state.add_argument("--activate", action="store_true")
        push = sub.add_parser("push", help="Append records from a JSON / JSON Lines file.")
        push.add_argument("source")
        push.add_argument("file", type=Path)
        push.add_argument("--skip-bad", action="store_true")
        push.add_argument("--json", action="store_true")

    def run(self, *args: Any, **o: Any) -> None:
        getattr(self, f"_{o['action']}")(o)

    def _list(self, o: dict[str, Any]) -> None:
        sources = list(data_sources_list())
        if o["json"]:
            rows = [
                {"id": s.pk, "name": s.name, "kind": s.kind, "owner": s.owner,
                 "quality_grade": s.quality_grade, "is_active": s.is_active}
                for s in sources
            ]  # fmt: skip
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not sources:
            self.stdout.write("No sources. Add one: manage.py sources add NAME --kind own_logs")
        for s in sources:
            state = "" if s.is_active else " (retired)"
            self.stdout.write(
                f"{s.pk:>4}  {s.name}{state}  [{s.kind}, grade {s.quality_grade}]  {s.owner}"
            )

    def _changes(self, o: dict[str, Any]) -> dict[str, Any]:
        changes = {field: o[option] for option, field in FIELDS.items() if o[option] is not None}
        if o["description"] is not None:
            changes["description"] = o["description"]
        if o["kind"] is not None:
            changes["kind"] = o["kind"]
        return changes

    def _add(self, o: dict[str, Any]) -> None:
        source = data_source_create(name=o["name"], **self._changes(o))
        self.stdout.write(f"Registered source {source.pk}: {source.name} ({source.kind})")

    def _update(self, o: dict[str, Any]) -> None:
        changes = self._changes(o)
        if o["new_name"] is not None:
            changes["name"] = o["new_name"]
        if o["retire"] or o["activate"]:
            changes["is_active"] = bool(o["activate"])
        if not changes:
            raise CommandError("Nothing to change: pass --name, --kind, --owner, ... or --retire.")
        source = data_source_update(source=data_source_get(o["source"]), **changes)
        self.stdout.write(f"Updated source {source.pk}: {', '.join(sorted(changes))}")

    def _push(self, o: dict[str, Any]) -> None:
        source = data_source_get(o["source"])
        path: Path = o["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        fmt = "json" if path.suffix == ".json" else "jsonl"
        table = import_file_read(data=data, filename=path.name, format=fmt)
        records = [None if row.problem else row.values for row in table.rows]
        totals: dict[str, Any] = {}
        for start in tqdm(
            range(0, len(records), BATCH_MAX), desc="batches", disable=len(records) <= BATCH_MAX
        ):
            report = source_records_import(
                source=source, records=records[start : start + BATCH_MAX], skip_bad=o["skip_bad"]
            ).as_dict()
            for key, value in report.items():
                totals[key] = totals.get(key, type(value)()) + value
        if o["json"]:
            self.stdout.write(json.dumps(totals, indent=2))
            return
        self.stdout.write(
            f"{source.name}: {totals['records']} records, {totals['created']} new, "
            f"{totals['unchanged']} unchanged, {len(totals['conflicts'])} conflicts, "
            f"{len(totals['duplicates'])} duplicates; outputs {totals['outputs_created']} new, "
            f"{totals['outputs_unchanged']} unchanged, {len(totals['output_conflicts'])} conflicts"
        )
        for conflict in totals["conflicts"][:50]:
            self.stdout.write(
                f"conflict item {conflict['item']} {conflict['external_id']!r}: {conflict['reason']}"
            )
