"""python manage.py build_pairs [--source S ...] [--campaign C ...] [--include-simulated]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.campaigns import campaign_get_by_ref
from training.management.commands._progress import progress_bar
from training.services.pairs import BUILDABLE, pairs_build


class Command(ServiceCommand):
    help = "Build (or rebuild) preference pairs, SFT and KTO rows from votes and feedback."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source", action="append", choices=BUILDABLE, default=None,
            help="Only this source (repeat for several); default: all.",
        )  # fmt: skip
        parser.add_argument(
            "--campaign", action="append", default=[], help="Only this campaign (name or id)."
        )
        parser.add_argument(
            "--include-simulated", action="store_true", help="Also use simulated (demo) votes."
        )

    def run(self, *args: Any, **o: Any) -> None:
        campaigns = [campaign_get_by_ref(ref) for ref in o["campaign"]]
        with progress_bar("building pairs", enabled=o["verbosity"] > 0) as progress:
            build = pairs_build(
                sources=o["source"],
                campaigns=campaigns,
                include_simulated=o["include_simulated"],
                progress=progress,
            )
        for source, counts in build.counts.items():
            extra = ", ".join(
                f"{k.replace('_', ' ')} {v}"
                for k, v in counts.items()
                if k not in ("pairs", "new", "retired") and v
            )
            self.stdout.write(
                f"{source}: {counts['pairs']} pairs ({counts['new']} new, {counts['retired']} "
                f"retired){'; ' + extra if extra else ''}"
            )
        self.stdout.write(f"pair build {build.pk} done in {build.seconds:.2f} s")
