"""python manage.py import_prompts FILE [--format csv|jsonl|json] [--skip-bad] [--source NAME]

``--source NAME`` names a registered data source (``manage.py sources add``): every new row
points to it, and its name is the free-text note of rows that name none. Without it the note is
the file name and the rows point to no source.

Also home of ``ImportCommand``, the shared frame of the three import commands (import_prompts,
import_outputs, import_battles): read the file, show a progress bar on stderr for big files,
print the report, and turn bad rows into a CommandError that names each line and field.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from evalhub.models import DataSource
from evalhub.selectors.sources import data_source_get
from evalhub.services.errors import ServiceError
from evalhub.services.imports import (
    FORMATS,
    LABEL_SEPARATOR,
    ImportReport,
    ImportTable,
    InvalidRows,
    import_file_read,
    prompts_import,
)
from evalhub.services.imports.rows import Progress

PROGRESS_FROM_ROWS = 1000  # smaller files finish before a bar would say anything
ERRORS_SHOWN = 50

ImportFn = Callable[[ImportTable, Progress | None], ImportReport]


class ImportCommand(BaseCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--format", choices=FORMATS, help="Default: from the extension (.csv, .jsonl, .json)."
        )
        parser.add_argument(
            "--skip-bad",
            action="store_true",
            help="Import the good rows and list the bad ones (default: import nothing if any "
            "row is bad).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--source",
            default=None,
            metavar="NAME",
            help="A registered data source (name or id) the new rows come from "
            "(see `manage.py sources list`).",
        )

    def data_source(self, options: dict[str, Any]) -> DataSource | None:
        if options["source"] is None:
            return None
        try:
            return data_source_get(options["source"])
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc

    def run_import(self, options: dict[str, Any], run: ImportFn) -> ImportReport:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        try:
            table = import_file_read(data=data, filename=path.name, format=options["format"])
            bars = _Bars(
                enabled=not options["no_progress"] and len(table.rows) >= PROGRESS_FROM_ROWS
            )
            try:
                report = run(table, bars)
            finally:
                bars.close()
        except InvalidRows as exc:
            raise CommandError(_bad_rows_message(exc)) from exc
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            for line in report.summary_lines():
                self.stdout.write(line)
        return report


class _Bars:
    """One tqdm bar (on stderr) per stage of an import: checking, writing ..., recording ..."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.stage = ""
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage or self.bar is None:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, unit="row", file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _bad_rows_message(exc: InvalidRows) -> str:
    lines = [f"{len({e.line for e in exc.errors})} bad row(s); nothing was imported:"]
    lines += [f"  {error}" for error in exc.errors[:ERRORS_SHOWN]]
    if len(exc.errors) > ERRORS_SHOWN:
        lines.append(f"  ... and {len(exc.errors) - ERRORS_SHOWN} more")
    lines.append("Fix them, or pass --skip-bad to import the good rows and list the bad ones.")
    return "\n".join(lines)


class Command(ImportCommand):
    help = (
        "Import prompts from CSV, JSON Lines or Alpaca JSON. Columns: instruction (required), "
        "input, system, output (the reference answer), history ([[user, assistant], ...] as "
        f"JSON), labels (JSON list, or in CSV one cell separated by {LABEL_SEPARATOR!r}; "
        '"a/b" is label a/b under a), external_id (or id / question_id), split, source.'
    )

    def handle(self, *args: Any, **options: Any) -> None:
        data_source = self.data_source(options)
        self.run_import(
            options,
            lambda table, progress: prompts_import(
                table=table,
                skip_bad=options["skip_bad"],
                source=data_source.name if data_source is not None else table.filename,
                data_source=data_source,
                progress=progress,
            ),
        )
