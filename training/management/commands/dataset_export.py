"""python manage.py dataset_export VERSION --format trl|trl-conversational|sft|alpaca|kto|...
[--split train|val|test|all] [--out FILE]  (stdout without --out)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from evalhub.management.commands._base import ServiceCommand
from training.selectors.datasets import dataset_get_by_ref
from training.services.exports import EXPORT_FORMATS, EXPORT_SPLITS, dataset_export_file


class Command(ServiceCommand):
    help = "Export a frozen dataset version (TRL preference JSONL, Alpaca JSON, KTO rows)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="Dataset version name or id.")
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="trl")
        parser.add_argument("--split", choices=EXPORT_SPLITS, default="train")
        parser.add_argument("--out", help="Write to this file (default: stdout).")

    def run(self, *args: Any, **o: Any) -> None:
        dataset = dataset_get_by_ref(o["dataset"])
        path = dataset_export_file(dataset=dataset, fmt=o["format"], split=o["split"])
        data = path.read_bytes()
        if o["out"]:
            write_atomically(Path(o["out"]), data)
            rows = dataset.exports.get(o["format"], {}).get(o["split"], {}).get("rows", "?")
            self.stderr.write(f"wrote {rows} rows to {o['out']}")
        else:
            self.stdout.write(data.decode("utf-8"), ending="")


def write_atomically(out: Path, data: bytes) -> None:
    """All of it or nothing at ``out`` (a full disk leaves no partial file)."""
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from exc
