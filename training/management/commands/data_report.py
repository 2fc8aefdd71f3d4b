"""python manage.py data_report --by source|label [--campaign C] [--format text|json|csv]

Per-source figures (volume, agreement, share surviving dedup and review, pair support rate) or
per-label results (usable pairs, latest dataset by split, votes, agreement, support rate and a
"data missing" flag; ``--campaign`` for the vote figures).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.services.errors import ServiceError
from training.selectors.data_figures import (
    MIN_DECISIVE_VOTES,
    MIN_USABLE_PAIRS,
    label_results,
    source_figures,
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _support(s: dict[str, Any] | None) -> str:
    if not s or s["support_rate"] is None:
        return "-"
    return (
        f"{_pct(s['support_rate'])} [{_pct(s['ci_low'])}, {_pct(s['ci_high'])}] "
        f"n={s['n_decisive']} {s['verdict']}"
    )


def _alpha(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class Command(BaseCommand):
    help = "Figures per data source or results per label (text, JSON or CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--by", choices=["source", "label"], required=True)
        parser.add_argument("--campaign", help="Campaign name or id (votes and pairs).")
        parser.add_argument("--format", choices=["text", "json", "csv"], default="text")
        parser.add_argument("--min-pairs", type=int, default=MIN_USABLE_PAIRS)
        parser.add_argument("--min-decisive", type=int, default=MIN_DECISIVE_VOTES)

    def handle(self, *args: Any, **o: Any) -> None:
        try:
            campaign = campaign_get_by_ref(o["campaign"]) if o["campaign"] else None
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if o["by"] == "source":
            rows = source_figures(campaign=campaign)
            payload: Any = {"sources": rows}
            table = [self._source_line(row) for row in rows]
        else:
            payload = label_results(
                campaign=campaign, min_pairs=o["min_pairs"], min_decisive=o["min_decisive"]
            )
            rows = payload["labels"]
            table = [self._label_line(row) for row in rows]
        if o["format"] == "json":
            self.stdout.write(json.dumps(payload, indent=2))
        elif o["format"] == "csv":
            self.stdout.write(_csv(table), ending="")
        else:
            for line in table:
                self.stdout.write("  ".join(f"{k}={v}" for k, v in line.items()))

    @staticmethod
    def _source_line(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "source": row["name"], "kind": row["kind"], "grade": row["quality_grade"],
            "prompts": row["prompts"], "outputs": row["outputs"], "votes": row["votes"],
            "alpha": _alpha(row["agreement_alpha"]), "pairs": row["pairs_active"],
            "in_dataset": _pct(row["dedup_survival"]), "review_kept": _pct(row["review_survival"]),
            "pair_support": _support(row["pair_support"]),
        }  # fmt: skip

    @staticmethod
    def _label_line(row: dict[str, Any]) -> dict[str, Any]:
        split = row["latest_dataset"]
        return {
            "label": row["name"], "prompts": row["prompts"], "usable_pairs": row["usable_pairs"],
            "dataset": f"{split['train']}/{split['val']}/{split['test']}",
            "votes": row["votes"], "decisive": row["decisive_votes"],
            "alpha": _alpha(row["agreement_alpha"]), "support": _support(row["support"]),
            "data_missing": "yes" if row["data_missing"] else "no",
        }  # fmt: skip


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
