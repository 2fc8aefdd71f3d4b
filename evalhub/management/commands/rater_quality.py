"""python manage.py rater_quality CAMPAIGN [--mark-gold FILE] [--attention-checks N [--seed S]]
[--exclude USER [--reason R]] [--include USER] [--exclude-flagged] [--format text|json|csv]

Without an action: the raters' accuracy on gold items and attention checks (Wilson interval),
who is flagged and excluded, and the support rate before / after exclusions. Actions run first,
then the table is printed. A gold file is CSV (header ``key,outcome``; ``external_id``,
``prompt_id`` or ``comparison`` may name the key column) or JSON lines with the same fields;
``outcome`` is candidate | baseline | tie | both_bad.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.selectors.quality import campaign_quality_overview
from evalhub.selectors.reports.export import percent
from evalhub.services.quality import (
    GoldMarkRow,
    attention_checks_create,
    gold_mark_many,
    rater_exclude,
    rater_include,
    raters_exclude_flagged,
)

KEY_COLUMNS = ("key", "external_id", "prompt_id", "comparison")
CSV_COLUMNS = (
    "username", "n_votes", "answered", "correct", "accuracy", "ci_low", "ci_high",
    "gold_answered", "attention_answered", "attention_failed", "flagged", "excluded",
)  # fmt: skip


def read_gold_file(path: Path) -> list[GoldMarkRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}: line {exc.lineno} is not JSON.") from exc
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    rows = []
    for number, record in enumerate(records, start=1):
        key = next((str(record[c]) for c in KEY_COLUMNS if record.get(c) not in (None, "")), "")
        if not key or not record.get("outcome"):
            raise CommandError(f"{path}: row {number} needs a key column and an outcome.")
        rows.append(GoldMarkRow(key=key.strip(), outcome=str(record["outcome"]).strip()))
    return rows


class Command(ServiceCommand):
    help = "Rater quality of a campaign: gold items, attention checks, flags and exclusions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("--mark-gold", metavar="FILE", help="CSV or JSONL of key,outcome.")
        parser.add_argument("--attention-checks", type=int, metavar="N", help="Add N checks.")
        parser.add_argument("--seed", type=int, default=None, help="Seed for attention checks.")
        parser.add_argument("--exclude", metavar="USER", help="Exclude a rater from the reports.")
        parser.add_argument("--include", metavar="USER", help="Bring an excluded rater back.")
        parser.add_argument(
            "--exclude-flagged", action="store_true", help="Exclude every flagged rater."
        )
        parser.add_argument("--reason", default="", help="Why (kept with the exclusion).")
        parser.add_argument("--format", choices=["text", "json", "csv"], default="text")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def run(self, *args: Any, **o: Any) -> None:
        campaign = campaign_get_by_ref(o["campaign"])
        if o["mark_gold"]:
            rows = read_gold_file(Path(o["mark_gold"]))
            with tqdm(
                total=len(rows),
                unit="item",
                desc="gold",
                disable=o["no_progress"],
                file=self.stderr._out,
            ) as bar:
                marked = gold_mark_many(
                    campaign=campaign, rows=rows, progress=lambda done, total: bar.update(1)
                )
            self.stderr.write(f"{len(marked)} comparisons marked as gold.")
        if o["attention_checks"]:
            created = attention_checks_create(
                campaign=campaign, count=o["attention_checks"], seed=o["seed"]
            )
            self.stderr.write(f"{len(created)} attention checks added.")
        if o["exclude"]:
            rater_exclude(campaign=campaign, rater=self._user(o["exclude"]), reason=o["reason"])
            self.stderr.write(f"{o['exclude']} excluded from the reports.")
        if o["include"]:
            rater_include(campaign=campaign, rater=self._user(o["include"]))
            self.stderr.write(f"{o['include']} back in the reports.")
        if o["exclude_flagged"]:
            excluded = raters_exclude_flagged(campaign=campaign, reason=o["reason"])
            self.stderr.write(f"{len(excluded)} flagged raters excluded.")
        self._print(campaign_quality_overview(campaign=campaign), o["format"])

    def _user(self, username: str) -> Any:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        return user

    def _print(self, overview: dict[str, Any], fmt: str) -> None:
        if fmt == "json":
            self.stdout.write(json.dumps(overview, indent=2, default=str))
            return
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(overview["raters"])
            self.stdout.write(buffer.getvalue(), ending="")
            return
        block = overview["report"]
        self.stdout.write(
            f"Checks: {block['check_answers']} answers on {block['n_gold_items']} gold items and "
            f"{block['n_attention_items']} attention checks, "
            f"{percent(block['check_accuracy'], 0)} correct (left out of the support rate)."
        )
        for row in overview["raters"]:
            status = "excluded" if row["excluded"] else "FLAGGED" if row["flagged"] else ""
            interval = (
                f" (95% CI {percent(row['ci_low'], 0)}-{percent(row['ci_high'], 0)})"
                if row["accuracy"] is not None
                else ""
            )
            self.stdout.write(
                f"  {row['username']}: {row['n_votes']} votes, {row['correct']}/{row['answered']} "
                f"checks right{interval}, {row['attention_failed']} attention failed {status}".rstrip()
            )
        after, before = block["after_exclusion"], block["before_exclusion"]
        if before:
            self.stdout.write(
                f"Support rate {percent(after['support_rate'])} after excluding "
                f"{len(block['excluded_raters'])} raters ({block['n_excluded_votes']} votes); "
                f"{percent(before['support_rate'])} before."
            )
