"""python manage.py labeling_spotcheck TASK [--rate 0.05] [--seed 1]

Samples a task's human labels uniformly (reproducible: the same seed gives the same sample)
into a spot-check batch and prints where an expert checks it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands._base import ServiceCommand
from labeling.selectors import task_get
from labeling.services.reviews import spot_check_batch_create


class Command(ServiceCommand):
    help = "Sample a task's labels into an expert spot-check batch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task", type=int, help="The labeling task id.")
        parser.add_argument("--rate", type=float, help="Share to sample (default: the task's).")
        parser.add_argument("--seed", type=int, help="Default: task seed + earlier batches.")

    def run(self, *args: Any, **o: Any) -> None:
        batch = spot_check_batch_create(task=task_get(o["task"]), rate=o["rate"], seed=o["seed"])
        self.stdout.write(
            f"Spot-check batch {batch.pk}: {batch.entries.count()} of {batch.population} labels "
            f"(rate {batch.rate}, seed {batch.seed}). Check it at /labeling/spotcheck/{batch.pk}/"
        )
