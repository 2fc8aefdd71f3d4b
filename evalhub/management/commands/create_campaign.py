"""python manage.py create_campaign NAME --baseline M --candidate M [--all-prompts | --label L ...]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import Campaign, Prompt
from evalhub.selectors.campaigns import model_version_get_by_name
from evalhub.services.campaigns import campaign_create, campaign_open


class Command(ServiceCommand):
    help = "Create a campaign comparing a candidate model version with its baseline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--baseline", required=True, help="Model version name.")
        parser.add_argument("--candidate", required=True, help="Model version name.")
        parser.add_argument("--kind", choices=Campaign.Kind.values, default="pairwise")
        parser.add_argument("--all-prompts", action="store_true", help="Every stored prompt.")
        parser.add_argument("--label", action="append", default=[], help="Prompts with this label.")
        parser.add_argument(
            "--split", choices=Prompt.Split.values, help="Only prompts of this split."
        )
        parser.add_argument("--prompts-file", help="A file of prompt external ids, one per line.")
        parser.add_argument("--votes-per-prompt", type=int, default=3)
        parser.add_argument("--tie-policy", choices=Campaign.TiePolicy.values, default="exclude")
        parser.add_argument("--guidelines", help="A markdown file shown to raters.")
        parser.add_argument(
            "--rater-title", default="", help="What raters see instead of the name."
        )
        parser.add_argument(
            "--raters", default="", help="Comma-separated usernames (default: all raters)."
        )
        parser.add_argument("--open", action="store_true", help="Open it right away.")

    def _prompts(self, o: dict[str, Any]) -> list[Prompt]:
        queryset = Prompt.objects.all()
        chosen = False
        if o["prompts_file"]:
            ids = [
                line.strip()
                for line in Path(o["prompts_file"]).read_text().splitlines()
                if line.strip()
            ]
            queryset = queryset.filter(external_id__in=ids)
            unknown = sorted(set(ids) - set(queryset.values_list("external_id", flat=True)))
            if unknown:
                raise CommandError(f"Unknown prompt external ids: {', '.join(unknown[:20])}")
            chosen = True
        if o["label"]:
            queryset = queryset.filter(labels__name__in=o["label"]).distinct()
            chosen = True
        if o["split"]:
            queryset = queryset.filter(split=o["split"])
            chosen = True
        if not chosen and not o["all_prompts"]:
            raise CommandError("Choose prompts: --all-prompts, --label, --split or --prompts-file.")
        return list(queryset.order_by("id"))

    def run(self, *args: Any, **o: Any) -> None:
        guidelines = Path(o["guidelines"]).read_text() if o["guidelines"] else ""
        raters = None
        if o["raters"]:
            names = [n.strip() for n in o["raters"].split(",") if n.strip()]
            raters = list(get_user_model().objects.filter(username__in=names))
            missing = sorted(set(names) - {u.username for u in raters})
            if missing:
                raise CommandError(f"Unknown users: {', '.join(missing)}")
        campaign = campaign_create(
            name=o["name"],
            baseline=model_version_get_by_name(o["baseline"]),
            candidate=model_version_get_by_name(o["candidate"]),
            prompts=self._prompts(o),
            votes_per_prompt=o["votes_per_prompt"],
            kind=o["kind"],
            tie_policy=o["tie_policy"],
            guidelines=guidelines,
            rater_title=o["rater_title"],
            raters=raters,
        )
        self.stdout.write(
            f"created campaign {campaign.name!r} (id {campaign.pk}) with {campaign.prompts.count()} prompts"
        )
        if o["open"]:
            _report_open(self, campaign_open(campaign=campaign))


def _report_open(command: ServiceCommand, result: Any) -> None:
    command.stdout.write(
        f"opened {result.campaign.name!r}: {result.comparisons_created} new comparisons "
        f"({result.comparisons_total} in all)"
    )
    if result.missing:
        command.stdout.write(
            f"{len(result.missing)} prompts are missing an output (run `generate`):"
        )
        for missing in result.missing[:20]:
            label = missing.external_id or f"prompt {missing.prompt_id}"
            command.stdout.write(f"  {label}: no {' and no '.join(missing.missing)} output")
        if len(result.missing) > 20:
            command.stdout.write(f"  ... and {len(result.missing) - 20} more")
