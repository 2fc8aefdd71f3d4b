"""python manage.py labels list|history|create|rename|describe|move|merge

- ``labels list [--merged] [--json]``: the taxonomy tree with prompt counts.
- ``labels history [LABEL]``: the change history (all labels, or one).
- ``labels create NAME [--parent P] [--description D]``
- ``labels rename LABEL NEW_NAME``: the old name keeps resolving for imports.
- ``labels describe LABEL TEXT``
- ``labels move LABEL --parent P | --root``: never under itself.
- ``labels merge LABEL INTO``: moves its prompts, pairs and children; it stays, inactive.

Labels are named by name or id.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from evalhub.management.commands._base import ServiceCommand
from evalhub.selectors.labels import label_events, label_get, label_tree, label_tree_rows
from evalhub.services.labels import (
    label_create,
    label_describe,
    label_merge,
    label_move,
    label_rename,
)


class Command(ServiceCommand):
    help = "The label taxonomy: list, history, create, rename, describe, move, merge."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="The tree with prompt counts.")
        listing.add_argument("--merged", action="store_true", help="Include merged labels.")
        listing.add_argument("--json", action="store_true")
        history = sub.add_parser("history", help="Changes to the taxonomy.")
        history.add_argument("label", nargs="?")
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--parent")
        create.add_argument("--description", default="")
        rename = sub.add_parser("rename")
        rename.add_argument("label")
        rename.add_argument("new_name")
        describe = sub.add_parser("describe")
        describe.add_argument("label")
        describe.add_argument("description")
        move = sub.add_parser("move")
        move.add_argument("label")
        where = move.add_mutually_exclusive_group(required=True)
        where.add_argument("--parent")
        where.add_argument("--root", action="store_true")
        merge = sub.add_parser("merge")
        merge.add_argument("label")
        merge.add_argument("into")

    def run(self, *args: Any, **o: Any) -> None:
        getattr(self, f"_{o['action']}")(o)

    def _list(self, o: dict[str, Any]) -> None:
        roots = label_tree(include_merged=o["merged"])
        if o["json"]:
            self.stdout.write(json.dumps([node.as_dict() for node in roots], indent=2))
            return
        for node in label_tree_rows(roots):
            merged = f"  -> merged into {node.merged_into_id}" if node.merged_into_id else ""
            self.stdout.write(f"{'  ' * node.depth}{node.name}  ({node.n_prompts} prompts){merged}")

    def _history(self, o: dict[str, Any]) -> None:
        label = label_get(o["label"]) if o["label"] else None
        for e in label_events(label=label):
            moved = ", ".join(f"{len(ids)} {kind}" for kind, ids in e.moved.items() if ids)
            who = e.actor.username if e.actor else "-"
            self.stdout.write(
                f"{e.created_at:%Y-%m-%d %H:%M}  {e.label.name}  {e.action}  "
                f"{json.dumps(e.before)} -> {json.dumps(e.after)}"
                + (f"  moved: {moved}" if moved else "")
                + f"  by {who}"
            )

    def _create(self, o: dict[str, Any]) -> None:
        parent = label_get(o["parent"]) if o["parent"] else None
        label = label_create(name=o["name"], parent=parent, description=o["description"])
        self.stdout.write(f"Created label {label.pk}: {label.name}")

    def _rename(self, o: dict[str, Any]) -> None:
        label = label_get(o["label"])
        old = label.name
        label = label_rename(label=label, name=o["new_name"])
        self.stdout.write(f"Renamed {old!r} to {label.name!r}")

    def _describe(self, o: dict[str, Any]) -> None:
        label = label_describe(label=label_get(o["label"]), description=o["description"])
        self.stdout.write(f"Described {label.name!r}")

    def _move(self, o: dict[str, Any]) -> None:
        parent = None if o["root"] else label_get(o["parent"])
        label = label_move(label=label_get(o["label"]), parent=parent)
        self.stdout.write(f"Moved {label.name!r} under {parent.name if parent else '(top level)'}")

    def _merge(self, o: dict[str, Any]) -> None:
        label, into = label_get(o["label"]), label_get(o["into"])
        if label.pk == into.pk:
            raise CommandError("A label cannot be merged into itself.")
        event = label_merge(label=label, into=into)
        moved = ", ".join(f"{len(ids)} {kind}" for kind, ids in event.moved.items() if ids)
        self.stdout.write(f"Merged {label.name!r} into {into.name!r}: {moved or 'nothing moved'}")
