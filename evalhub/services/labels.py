"""The label taxonomy: create, rename, describe, move and merge labels without losing history.

Every change writes a ``LabelEvent`` (before, after, actor) and an audit event in the same
transaction. A merge moves every item that carries the merged label to the survivor: prompts,
and whatever other app links labels through a many-to-many (training's pairs and examples).
evalhub imports no other app, so the merge finds those links generically through
``Label._meta.related_objects`` and records the moved item ids per model in ``LabelEvent.moved``
(``{"evalhub.prompt": [...], "training.preferencepair": [...]}``). The merged label stays,
inactive, with ``merged_into`` set, so old reports and events still name it.

Names that no longer exist keep working for imports: ``labels_resolve`` follows merges to the
survivor and looks up renames in the event history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction

from evalhub.models import Label, LabelEvent
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput

NAME_MAX = 100


def _clean_name(name: str) -> str:
    name = "/".join(part.strip() for part in (name or "").strip().split("/"))
    if not name or any(not part for part in name.split("/")):
        raise InvalidInput(
            "A label name cannot be empty or hold an empty part.", details={"field": "name"}
        )
    if len(name) > NAME_MAX or "\x00" in name:
        raise InvalidInput(
            f"A label name has at most {NAME_MAX} characters and no NUL.",
            details={"field": "name"},
        )
    return name


def _name_free(name: str, *, exclude: int | None = None) -> None:
    taken = Label.objects.filter(name=name).exclude(pk=exclude).first()
    if taken is not None:
        raise Conflict(
            f"A label named {name!r} already exists (label {taken.pk}).", details={"field": "name"}
        )


def _actor(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if getattr(user, "is_authenticated", False) else None


def _event(
    label: Label,
    action: str,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    actor: AbstractBaseUser | None,
    moved: dict[str, list[int]] | None = None,
) -> LabelEvent:
    event = LabelEvent.objects.create(
        label=label, action=action, before=before, after=after, moved=moved or {}, actor=actor
    )
    audit_record(action=f"label.{action}", obj=label, before=before, after=after, actor=actor)
    return event


def _editable(label: Label) -> Label:
    locked = Label.objects.select_for_update().get(pk=label.pk)
    if locked.merged_into_id is not None:
        raise Conflict(
            f"Label {locked.name!r} was merged into label {locked.merged_into_id}; "
            "change the survivor instead.",
            details={"field": "label"},
        )
    return locked


def label_create(
    *,
    name: str,
    parent: Label | None = None,
    description: str = "",
    actor: AbstractBaseUser | None = None,
) -> Label:
    name = _clean_name(name)
    with transaction.atomic():
        _name_free(name)
        if parent is not None:
            parent = _editable(parent)
        label = Label.objects.create(name=name, parent=parent, description=description)
        _event(label, "create", before={}, after=audit_snapshot(label), actor=_actor(actor))
    return label


def label_rename(*, label: Label, name: str, actor: AbstractBaseUser | None = None) -> Label:
    """A new name for one label (its children keep theirs); the old name stays resolvable."""
    name = _clean_name(name)
    with transaction.atomic():
        label = _editable(label)
        if name == label.name:
            return label
        _name_free(name, exclude=label.pk)
        before = {"name": label.name}
        label.name = name
        label.save(update_fields=["name"])
        _event(label, "rename", before=before, after={"name": name}, actor=_actor(actor))
    return label


def label_describe(
    *, label: Label, description: str, actor: AbstractBaseUser | None = None
) -> Label:
    with transaction.atomic():
        label = _editable(label)
        if description == label.description:
            return label
        before = {"description": label.description}
        label.description = description
        label.save(update_fields=["description"])
        _event(
            label,
            "describe",
            before=before,
            after={"description": description},
            actor=_actor(actor),
        )
    return label


def label_move(
    *, label: Label, parent: Label | None, actor: AbstractBaseUser | None = None
) -> Label:
    """Put ``label`` under ``parent`` (None: a root); a label can never end under itself."""
    with transaction.atomic():
        label = _editable(label)
        if parent is not None:
            parent = _editable(parent)
            ancestor: Label | None = parent
            while ancestor is not None:
                if ancestor.pk == label.pk:
                    raise InvalidInput(
                        f"Cannot move {label.name!r} under {parent.name!r}: "
                        "a label cannot be its own ancestor.",
                        details={"field": "parent"},
                    )
                ancestor = ancestor.parent
        new_parent = parent.pk if parent is not None else None
        if new_parent == label.parent_id:
            return label
        before = {"parent": label.parent_id}
        label.parent_id = new_parent
        label.save(update_fields=["parent"])
        _event(label, "move", before=before, after={"parent": new_parent}, actor=_actor(actor))
    return label


def _label_links() -> Iterable[tuple[str, Any, str, str]]:
    """(kind, through model, owner column, label column) of every many-to-many to Label."""
    for relation in Label._meta.related_objects:
        if not relation.many_to_many:
            continue
        field = relation.remote_field
        through = field.remote_field.through
        owner = relation.related_model._meta
        yield (
            f"{owner.app_label}.{owner.model_name}",
            through,
            field.m2m_column_name(),
            field.m2m_reverse_name(),
        )


def _move_links(
    through: Any, owner_column: str, label_column: str, source: Label, target: Label
) -> list[int]:
    """Re-point the links of ``source`` to ``target``; owners that already had both keep one.

    Returns the owner ids whose label moved (those that had both are included: their link to
    ``source`` is gone too)."""
    links = through._default_manager.filter(**{label_column: source.pk})
    owner_ids = sorted(links.values_list(owner_column, flat=True))
    has_target = through._default_manager.filter(
        **{label_column: target.pk, f"{owner_column}__in": links.values(owner_column)}
    )
    links.filter(
        **{f"{owner_column}__in": models.Subquery(has_target.values(owner_column))}
    ).delete()
    through._default_manager.filter(**{label_column: source.pk}).update(**{label_column: target.pk})
    return owner_ids


def label_merge(*, label: Label, into: Label, actor: AbstractBaseUser | None = None) -> LabelEvent:
    """Merge ``label`` into ``into``: its items and children move to ``into``; it stays, inactive."""
    if label.pk == into.pk:
        raise InvalidInput("A label cannot be merged into itself.", details={"field": "into"})
    with transaction.atomic():
        label, into = _editable(label), _editable(into)
        ancestor: Label | None = into
        while ancestor is not None:
            if ancestor.pk == label.pk:
                raise InvalidInput(
                    f"Cannot merge {label.name!r} into its own descendant {into.name!r}; "
                    "move that label out first.",
                    details={"field": "into"},
                )
            ancestor = ancestor.parent
        moved = {
            kind: _move_links(through, owner_column, label_column, label, into)
            for kind, through, owner_column, label_column in _label_links()
        }
        children = list(label.children.order_by("pk").values_list("pk", flat=True))
        Label.objects.filter(pk__in=children).update(parent=into)
        moved["evalhub.label"] = children
        before = {"merged_into": None, "is_active": True}
        label.merged_into, label.is_active = into, False
        label.save(update_fields=["merged_into", "is_active"])
        return _event(
            label,
            "merge",
            before=before,
            after={"merged_into": into.pk, "merged_into_name": into.name, "is_active": False},
            moved=moved,
            actor=_actor(actor),
        )


def labels_resolve(names: Iterable[str]) -> dict[str, int]:
    """Current label id for each name that exists now or once did (renamed or merged away).

    An exact name wins; else the latest rename from that name. Merges are followed to the
    survivor. Names never seen are left out (the caller creates them).
    """
    wanted = set(names)
    found = dict(Label.objects.filter(name__in=wanted).values_list("name", "id"))
    missing = wanted - set(found)
    if missing:
        renames = LabelEvent.objects.filter(
            action=LabelEvent.Action.RENAME, before__name__in=sorted(missing)
        ).order_by("-created_at", "-id")
        for old, label_id in renames.values_list("before__name", "label_id"):
            found.setdefault(old, label_id)
    merged = dict(
        Label.objects.filter(merged_into__isnull=False).values_list("id", "merged_into_id")
    )
    for name, label_id in found.items():
        seen = set()
        while label_id in merged and label_id not in seen:
            seen.add(label_id)
            label_id = merged[label_id]
        found[name] = label_id
    return found
