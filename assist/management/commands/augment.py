"""python manage.py augment --prompts FILTER --method paraphrase|back_translation
[--per-prompt 1] --model MODEL [--pivot French] [--threshold 0.8] [--seed 0] [--queue]

FILTER picks original prompts: ``label:NAME``, ``campaign:NAME-OR-ID``, ``source:NAME``,
``ids:1,2,3`` (several filters, comma-free, may be given: ``--prompts label:billing source:web``).
New prompts are written through the model, near-duplicates dropped, the rest stored with their
origin (AI), source, labels and split; kept / dropped counts are printed.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from assist.management.commands._follow import run_inline
from assist.models import AugmentationRun
from assist.selectors.augment import prompts_for_augmentation
from assist.services.augment import augmentation_run_create
from assist.tasks import run_augmentation_job
from evalhub.management.commands._base import ServiceCommand
from evalhub.models import ModelVersion
from evalhub.selectors.campaigns import campaign_get_by_ref


def parse_filters(items: list[str]) -> dict[str, Any]:
    chosen: dict[str, Any] = {"ids": [], "label": "", "campaign": None, "source": ""}
    for item in items:
        key, _, value = item.partition(":")
        if key not in ("label", "campaign", "source", "ids") or not value:
            raise CommandError(
                f"Unknown prompt filter {item!r}; use label:NAME, campaign:REF, source:NAME or ids:1,2."
            )
        if key == "ids":
            try:
                chosen["ids"] += [int(part) for part in value.split(",") if part]
            except ValueError as exc:
                raise CommandError(f"ids must be numbers: {value!r}") from exc
        else:
            chosen[key] = value
    return chosen


class Command(ServiceCommand):
    help = "Paraphrase or back-translate prompts through a model; near-duplicates are dropped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--prompts", nargs="+", required=True, metavar="FILTER")
        parser.add_argument("--method", choices=AugmentationRun.Method.values, required=True)
        parser.add_argument("--model", required=True)
        parser.add_argument("--per-prompt", type=int, default=1)
        parser.add_argument("--pivot", default="French", help="Back-translation pivot language.")
        parser.add_argument(
            "--threshold", type=float, default=0.8, help="Near-duplicate threshold."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--queue", action="store_true", help="Queue for the worker; return.")
        parser.add_argument("--json", action="store_true")

    def run(self, *args: Any, **o: Any) -> None:
        chosen = parse_filters(o["prompts"])
        campaign = campaign_get_by_ref(chosen["campaign"]) if chosen["campaign"] else None
        model = ModelVersion.objects.filter(name=o["model"]).first()
        if model is None:
            raise CommandError(f"No model version named {o['model']!r}.")
        prompts = prompts_for_augmentation(
            label=chosen["label"], campaign=campaign, source=chosen["source"], ids=chosen["ids"]
        )
        run = augmentation_run_create(
            prompts=prompts,
            method=o["method"],
            model_version=model,
            per_prompt=o["per_prompt"],
            pivot_language=o["pivot"],
            near_duplicate_threshold=o["threshold"],
            seed=o["seed"],
            prompt_filter={**chosen, "campaign": campaign.pk if campaign else None},
        )
        if o["queue"]:
            self.stdout.write(f"queued augmentation run {run.pk} (job {run.job_id})")
            return
        run_inline(self, run.job_id, run_augmentation_job, unit="prompt", desc=o["method"])
        run.refresh_from_db()
        counts = run.counts
        if o["json"]:
            self.stdout.write(json.dumps({"augmentation_run_id": run.pk, **counts}, indent=2))
            return
        self.stdout.write(
            f"augmentation run {run.pk} ({run.method}, AI-written): {counts.get('sources', 0)} "
            f"source prompts -> {counts.get('kept', 0)} new prompts kept, "
            f"{counts.get('duplicate', 0)} dropped as near-duplicates, {counts.get('failed', 0)} failed"
        )
