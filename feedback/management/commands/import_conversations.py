"""python manage.py import_conversations FILE --campaign C [--format jsonl|json|csv] [--dry-run]

Queues customer conversations for the 2+2 workbench of campaign C (by name or id). JSONL / JSON:
one conversation per line / item with ``external_id``, ``channel``, ``subject``, ``system`` and
``messages`` ([{"role": "customer"|"agent", "text": ...}, ...], ending with the customer).
CSV: one row per message with ``conversation_id``, ``role`` and ``text`` columns. Importing the
same file again changes nothing; every bad record is listed with its line.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.campaigns import campaign_get_by_ref
from feedback.services.conversation_files import FORMATS, read_conversations
from feedback.services.conversations import conversations_import


class _DryRun(Exception):
    pass


class Command(ServiceCommand):
    help = "Queue customer conversations (JSONL, JSON or CSV) for a workbench campaign."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A .jsonl, .json or .csv file.")
        parser.add_argument("--campaign", required=True, help="Workbench campaign name or id.")
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file suffix.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check everything, store nothing."
        )

    def run(self, *args: Any, **options: Any) -> None:
        campaign = campaign_get_by_ref(options["campaign"])
        records = read_conversations(options["file"], options["format"])
        progress = tqdm(records, desc="conversations", unit="conv", disable=len(records) < 50)
        try:
            with transaction.atomic():
                summary = conversations_import(campaign=campaign, records=progress)
                if options["dry_run"]:
                    raise _DryRun
        except _DryRun:
            pass
        verb = "would queue" if options["dry_run"] else "queued"
        self.stdout.write(
            f"{verb} {summary.created} conversation(s) for {campaign.name!r}; "
            f"{summary.unchanged} already there, {summary.superseded} older version(s) replaced, "
            f"{len(summary.errors)} error(s)."
        )
        for line, message in summary.errors[:50]:
            self.stderr.write(f"  line {line}: {message}")
        if len(summary.errors) > 50:
            self.stderr.write(f"  ... and {len(summary.errors) - 50} more")
        if summary.errors and not summary.created and not summary.unchanged:
            raise CommandError("Nothing was imported.")
