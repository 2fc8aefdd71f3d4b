"""Reads of the label taxonomy: the tree (with prompt counts) and the change history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet

from evalhub.models import Label, LabelEvent
from evalhub.services.errors import NotFound


@dataclass
class LabelNode:
    id: int
    name: str
    description: str
    parent_id: int | None
    is_active: bool
    merged_into_id: int | None
    n_prompts: int
    depth: int = 0
    children: list[LabelNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "parent": self.parent_id,
            "is_active": self.is_active,
            "merged_into": self.merged_into_id,
            "n_prompts": self.n_prompts,
            "children": [child.as_dict() for child in self.children],
        }


def label_get(ref: int | str) -> Label:
    """A label by id or by exact name."""
    text = str(ref).strip()
    found = (
        Label.objects.filter(pk=int(text)).first() if (text.isascii() and text.isdigit()) else None
    )
    if found is None and "\x00" not in text:
        found = Label.objects.filter(name=text).first()
    if found is None:
        raise NotFound(f"No label {text!r}.", details={"field": "label"})
    return found


def label_tree(*, include_merged: bool = False) -> list[LabelNode]:
    """Root nodes, children nested and sorted by name; one query."""
    labels = Label.objects.annotate(n_prompts=Count("prompts")).order_by("name")
    if not include_merged:
        labels = labels.filter(merged_into__isnull=True)
    nodes = {
        row["id"]: LabelNode(**row)
        for row in labels.values(
            "id", "name", "description", "parent_id", "is_active", "merged_into_id", "n_prompts"
        )
    }
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def label_tree_rows(roots: list[LabelNode]) -> list[LabelNode]:
    """The tree flattened depth first, each node with its ``depth`` (for tables and selects)."""
    rows: list[LabelNode] = []

    def walk(node: LabelNode, depth: int, seen: frozenset[int]) -> None:
        if node.id in seen:  # a cycle from hand-edited data: show it once, never loop
            return
        node.depth = depth
        rows.append(node)
        for child in node.children:
            walk(child, depth + 1, seen | {node.id})

    for root in roots:
        walk(root, 0, frozenset())
    return rows


def label_events(*, label: Label | None = None, limit: int = 200) -> QuerySet[LabelEvent]:
    events = LabelEvent.objects.select_related("label", "actor").order_by("-created_at", "-id")
    if label is not None:
        events = events.filter(label=label)
    return events[:limit]
