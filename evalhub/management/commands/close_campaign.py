"""python manage.py close_campaign CAMPAIGN (name or id)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.services.campaigns import campaign_close


class Command(ServiceCommand):
    help = "Close a campaign: no more votes are taken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")

    def run(self, *args: Any, **o: Any) -> None:
        campaign = campaign_close(campaign=campaign_get_by_ref(o["campaign"]))
        self.stdout.write(f"closed {campaign.name!r}")
