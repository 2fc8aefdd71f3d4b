"""python manage.py labeling_task create|list|show|open|close|apply|next-layer|exclude-flagged

Examples::

    manage.py labeling_task create "Topic" --items-kind prompt --question labels \\
        --label billing --label shipping --k 3 --items items.txt --open
    manage.py labeling_task show 4
    manage.py labeling_task apply 4
    manage.py labeling_task next-layer 4 --audience expert
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import Label
from labeling.forms import parse_items
from labeling.models import Audience, ItemKind, QuestionKind
from labeling.selectors import (
    labeler_accuracy,
    task_alpha,
    task_get,
    task_item_outcomes,
    task_progress,
    tasks_list,
)
from labeling.services.effects import labelers_exclude_flagged, labeling_task_apply
from labeling.services.tasks import (
    labeling_task_close,
    labeling_task_create,
    labeling_task_create_next_layer,
    labeling_task_open,
)
from training.management.commands._progress import progress_bar


def _label(name: str) -> Label:
    label = Label.objects.filter(name=name).first()
    if label is None:
        raise CommandError(f"No label named {name!r}.")
    return label


class Command(ServiceCommand):
    help = "Create, inspect and run labeling tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a task (a draft unless --open).")
        create.add_argument("name")
        create.add_argument("--items-kind", choices=ItemKind.values, required=True)
        create.add_argument("--question", choices=QuestionKind.values, required=True)
        create.add_argument("--label", action="append", default=[], help="An answer label.")
        create.add_argument("--label-root", help="Allow this label and every label under it.")
        create.add_argument("--multi-select", action="store_true")
        create.add_argument("--rubric-file", type=Path, help="Markdown rubric.")
        create.add_argument("--audience", choices=Audience.values, default=Audience.USER)
        create.add_argument("--k", type=int, default=3, help="Labels per item.")
        create.add_argument("--batch-size", type=int, default=10)
        create.add_argument("--min-agreement", type=float, default=0.6)
        create.add_argument("--gold-share", type=float, default=0.0)
        create.add_argument("--gold-min-accuracy", type=float, default=0.8)
        create.add_argument("--spot-check-rate", type=float, default=0.05)
        create.add_argument("--seed", type=int, default=0)
        create.add_argument(
            "--items",
            type=Path,
            help="A file with one item per line: an id, two output ids as 12:13, or JSON.",
        )
        create.add_argument("--open", action="store_true", help="Open it at once.")
        sub.add_parser("list", help="Every task with its status and counts.")
        for action, text in (
            ("show", "Progress, agreement, disagreements and labelers of a task."),
            ("open", "Open a task for labeling."),
            ("close", "Close a task."),
            ("apply", "Write consensus labels / pair reviews to the data."),
            ("exclude-flagged", "Exclude the labelers the gold items flag."),
        ):
            sub.add_parser(action, help=text).add_argument("task", type=int)
        layer = sub.add_parser("next-layer", help="A new task over the disagreements.")
        layer.add_argument("task", type=int)
        layer.add_argument("--audience", choices=Audience.values)
        layer.add_argument("--k", type=int)

    def run(self, *args: Any, **o: Any) -> None:
        action = o["action"]
        if action == "create":
            return self._create(o)
        if action == "list":
            for t in tasks_list():
                self.stdout.write(f"{t.pk:>5}  {t.status:<6}  layer {t.layer}  {t.n_items:>6} items"
                                  f"  {t.n_labels:>7} labels  {t.name}")  # fmt: skip
            return None
        task = task_get(o["task"])
        if action == "show":
            return self._show(task)
        if action == "open":
            labeling_task_open(task=task)
        elif action == "close":
            labeling_task_close(task=task)
        elif action == "apply":
            with progress_bar("applying", enabled=o["verbosity"] > 0) as progress:
                counts = labeling_task_apply(task=task, progress=progress)
            self.stdout.write(", ".join(f"{n} {state}" for state, n in counts.items()))
        elif action == "exclude-flagged":
            excluded = labelers_exclude_flagged(task=task)
            self.stdout.write(f"{len(excluded)} labelers excluded.")
        elif action == "next-layer":
            child = labeling_task_create_next_layer(task=task, audience=o["audience"], k=o["k"])
            self.stdout.write(f"Task {child.pk}: layer {child.layer} with "
                              f"{child.items.count()} items (draft).")  # fmt: skip
            return None
        self.stdout.write(f"Task {task.pk}: {task_get(task.pk).status}.")
        return None

    def _create(self, o: dict[str, Any]) -> None:
        items = []
        if o["items"] is not None:
            try:
                text = o["items"].read_text(encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot read {o['items']}: {exc}") from exc
            from django import forms

            try:
                items = parse_items(text, o["items_kind"])
            except forms.ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        rubric = o["rubric_file"].read_text(encoding="utf-8") if o["rubric_file"] else ""
        task = labeling_task_create(
            name=o["name"],
            item_kind=o["items_kind"],
            question_kind=o["question"],
            labels=[_label(n) for n in o["label"]],
            label_root=_label(o["label_root"]) if o["label_root"] else None,
            multi_select=o["multi_select"],
            rubric=rubric,
            audience=o["audience"],
            k=o["k"],
            batch_size=o["batch_size"],
            min_agreement=o["min_agreement"],
            gold_share=o["gold_share"],
            gold_min_accuracy=o["gold_min_accuracy"],
            spot_check_rate=o["spot_check_rate"],
            seed=o["seed"],
            items=items,
        )
        if o["open"]:
            task = labeling_task_open(task=task)
        self.stdout.write(f"Task {task.pk} ({task.status}): {task.items.count()} items.")

    def _show(self, task: Any) -> None:
        progress = task_progress(task=task)
        outcomes = task_item_outcomes(task=task)
        alpha = task_alpha(task=task, outcomes=outcomes)
        write = self.stdout.write
        write(f"Task {task.pk}: {task.name} (layer {task.layer}, {task.status})")
        write(f"  items {progress['n_items']} (+{progress['n_gold']} gold), labels "
              f"{progress['given']}/{progress['wanted']}, AI labels {progress['ai_labels']}")  # fmt: skip
        write(f"  consensus {sum(o.consensus is not None for o in outcomes)}, disagreements "
              f"{sum(o.disagreed for o in outcomes)}, Krippendorff's alpha "
              f"{'-' if alpha is None else f'{alpha:.3f}'}")  # fmt: skip
        for row in labeler_accuracy(task=task):
            accuracy = "-" if row.accuracy is None else f"{row.accuracy:.2f}"
            gold = "-" if row.gold_accuracy is None else f"{row.gold_accuracy:.2f}"
            flags = " FLAGGED" if row.flagged else ""
            flags += " excluded" if row.excluded else ""
            write(f"  {row.username:<20} {row.n_labels:>6} labels  accuracy {accuracy}"
                  f"  gold {gold} ({row.gold_answers}){flags}")  # fmt: skip
