"""python manage.py open_campaign CAMPAIGN (name or id): build comparisons, open for rating."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.management.commands.create_campaign import _report_open
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.services.campaigns import campaign_open


class Command(ServiceCommand):
    help = "Open a campaign: build comparisons from existing outputs and report what is missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")

    def run(self, *args: Any, **o: Any) -> None:
        _report_open(self, campaign_open(campaign=campaign_get_by_ref(o["campaign"])))
