"""python manage.py report CAMPAIGN [--format json|csv|text] [--by label|rater|day] [--no-bootstrap] [--seed N]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.selectors.reports import (
    BREAKDOWNS,
    breakdown_lines,
    campaign_report,
    parse_breakdowns,
    report_csv,
)


class Command(ServiceCommand):
    help = (
        "Support-rate report of a campaign (by name or id): JSON, CSV (one row per slice) or "
        "a verdict paragraph for a release note."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("--format", choices=["json", "csv", "text"], default="json")
        parser.add_argument(
            "--by", choices=BREAKDOWNS, help="Add a breakdown by label, rater or day."
        )
        parser.add_argument(
            "--no-bootstrap",
            action="store_true",
            help="Skip the 2000-resample prompt-cluster bootstrap audit of the interval.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap.")
        parser.add_argument(
            "--exclude-simulated", action="store_true", help="Leave simulated votes out."
        )

    def run(self, *args: Any, **o: Any) -> None:
        by = parse_breakdowns(o["by"])
        report = campaign_report(
            campaign_get_by_ref(o["campaign"]),
            by=by,
            bootstrap=not o["no_bootstrap"],
            seed=o["seed"],
            include_simulated=not o["exclude_simulated"],
        )
        if o["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
        elif o["format"] == "csv":
            self.stdout.write(report_csv(report, by), ending="")
        else:
            self.stdout.write("\n".join([report["summary"], *breakdown_lines(report, by)]))
