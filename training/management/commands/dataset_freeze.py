"""python manage.py dataset_freeze NAME [--campaign C] [--source S] [--label L] [--since D]
[--until D] [--min-strength N] [--min-agreement X] [--split 80/10/10] [--seed N]
[--near-duplicate-threshold 0.8] [--no-examples]"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.campaigns import campaign_get_by_ref
from training.management.commands._progress import progress_bar
from training.models.pairs import PairSource
from training.services.datasets import dataset_filters, dataset_version_freeze
from training.services.splits import parse_ratios


def _date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date (use YYYY-MM-DD or an ISO time)") from exc
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(ServiceCommand):
    help = "Freeze the matching pairs (and SFT / KTO rows) into an immutable dataset version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Name of the new dataset version (unique).")
        parser.add_argument("--campaign", action="append", default=[], help="Name or id; repeat.")
        parser.add_argument("--source", action="append", default=[], choices=PairSource.values)
        parser.add_argument("--label", action="append", default=[], help="Prompt label; repeat.")
        parser.add_argument("--since", type=_date, help="Pairs built from this date on.")
        parser.add_argument("--until", type=_date, help="Pairs built before this date.")
        parser.add_argument("--min-strength", type=int, default=1)
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument("--split", default="80/10/10", help="train/val/test percentages.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--near-duplicate-threshold", type=float, default=0.8)
        parser.add_argument("--no-examples", action="store_true", help="Pairs only (no SFT/KTO).")
        parser.add_argument("--description", default="")

    def run(self, *args: Any, **o: Any) -> None:
        try:
            ratios = parse_ratios(o["split"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        filters = dataset_filters(
            campaigns=[campaign_get_by_ref(ref) for ref in o["campaign"]],
            sources=o["source"],
            labels=o["label"],
            since=o["since"],
            until=o["until"],
            min_strength=o["min_strength"],
            min_agreement=o["min_agreement"],
            include_examples=not o["no_examples"],
        )
        with progress_bar("freezing", enabled=o["verbosity"] > 0) as progress:
            try:
                dataset = dataset_version_freeze(
                    name=o["name"],
                    filters=filters,
                    split_ratios=ratios,
                    seed=o["seed"],
                    near_duplicate_threshold=o["near_duplicate_threshold"],
                    description=o["description"],
                    progress=progress,
                )
            except OSError as exc:
                raise CommandError(
                    f"dataset version {o['name']!r} is frozen, but writing its exports failed "
                    f"({exc.strerror or exc}: {exc.filename or ''}); free the space, then "
                    f"python manage.py dataset_export {o['name']} writes (and records) them."
                ) from exc
        self.stdout.write(dataset_summary(dataset))


def dataset_summary(dataset: Any) -> str:
    counts = dataset.counts
    lines = [f"dataset version {dataset.name} (id {dataset.pk}), seed {dataset.seed}"]
    lines.append(f"{'':>14} {'train':>7} {'val':>7} {'test':>7} {'total':>7}")
    for kind in ("pairs", "sft", "kto"):
        row = counts.get(kind, {})
        if row.get("total"):
            lines.append(
                f"{kind:>14} " + " ".join(f"{row[s]:>7}" for s in ("train", "val", "test", "total"))
            )
    for label, row in counts.get("by_label", {}).items():
        lines.append(
            f"{label[:14]:>14} "
            + " ".join(f"{row[s]:>7}" for s in ("train", "val", "test", "total"))
        )
    dedup = counts.get("dedup", {})
    lines.append("dedup: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dedup.items()))
    return "\n".join(lines)
