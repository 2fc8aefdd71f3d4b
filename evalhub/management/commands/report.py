"""python manage.py report CAMPAIGN [--format json|csv|text] [--by label|rater|day] [--no-bootstrap] [--seed N]"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils.module_loading import import_string

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import Campaign
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.selectors.reports import (
    BREAKDOWNS,
    breakdown_lines,
    campaign_report,
    parse_breakdowns,
    report_csv,
)


def _kind_report(campaign: Campaign) -> dict[str, Any] | None:
    """The extra report of a campaign kind whose signals live in another app (thumbs, workbench).

    evalhub never imports those apps: ``settings.EVALHUB_REPORT_EXTENSIONS`` maps a campaign kind
    to the dotted path of a function ``(campaign) -> dict``.
    """
    path = getattr(settings, "EVALHUB_REPORT_EXTENSIONS", {}).get(campaign.kind)
    return import_string(path)(campaign) if path else None


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
        campaign = campaign_get_by_ref(o["campaign"])
        extension = _kind_report(campaign)
        if campaign.kind == Campaign.Kind.THUMBS and extension is not None:
            # Thumbs are not a support rate: the campaign's report is the thumbs comparison.
            if o["format"] == "text":
                self.stdout.write(extension.get("summary", ""))
            else:
                self.stdout.write(json.dumps(extension, indent=2, ensure_ascii=False, default=str))
            return
        report = campaign_report(
            campaign,
            by=by,
            bootstrap=not o["no_bootstrap"],
            seed=o["seed"],
            include_simulated=not o["exclude_simulated"],
        )
        if extension is not None:
            report[campaign.kind] = extension
        if o["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        elif o["format"] == "csv":
            self.stdout.write(report_csv(report, by), ending="")
        else:
            self.stdout.write("\n".join([report["summary"], *breakdown_lines(report, by)]))
