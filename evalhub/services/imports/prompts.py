"""Import prompts from CSV, JSON Lines or Alpaca JSON.

Columns (CSV) or keys (JSON): ``instruction`` (required), ``input``, ``system``, ``output`` (or
``reference``; stored as the reference answer), ``history`` ([[user, assistant], ...]; JSON text
in a CSV cell), ``labels`` (a JSON array of strings, or in CSV one cell separated by "|"; "a/b"
makes label "a/b" whose parent is label "a"), ``external_id`` (or ``id`` / ``question_id``),
``split`` (train | val | test | unassigned) and ``source``.

A row whose normalized content or external id is already stored, or whose content appeared
earlier in the file, is a duplicate: reported with its line and not stored again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from evalhub.models import DataSource, Label, LabelEvent, Prompt
from evalhub.services.errors import Conflict
from evalhub.services.imports.rows import (
    Duplicate,
    ImportReport,
    Progress,
    RowError,
    RowReader,
    bulk_create_reporting,
    chunked,
    with_progress,
)
from evalhub.services.imports.table import ImportTable, Row
from evalhub.services.labels import labels_resolve

EXTERNAL_ID_KEYS = ("external_id", "id", "question_id")
KNOWN_COLUMNS = (
    "instruction", "input", "system", "output", "reference", "history", "labels", "split",
    "source", *EXTERNAL_ID_KEYS,
)  # fmt: skip


@dataclass
class PromptImportReport(ImportReport):
    labels_created: list[str] = field(default_factory=list)

    def extra(self) -> dict[str, Any]:
        return {"labels_created": self.labels_created}


@dataclass
class _PromptRow:
    row: Row
    external_id_field: str
    prompt: Prompt
    labels: list[str]


def prompts_import(
    *,
    table: ImportTable,
    skip_bad: bool = False,
    source: str = "",
    data_source: DataSource | None = None,
    progress: Progress | None = None,
) -> PromptImportReport:
    """Store the new prompts of ``table``; all or nothing unless ``skip_bad``.

    ``data_source`` (a registered source) is where every new prompt came from; ``source`` is
    the free-text note of rows that name none.
    """
    table.require("instruction")
    report = PromptImportReport(
        kind="prompts",
        format=table.format,
        rows=len(table.rows),
        ignored_columns=table.ignored_columns(KNOWN_COLUMNS),
    )
    parsed = []
    for row in with_progress(table.rows, progress):
        reader = RowReader(row)
        candidate = _read_prompt(reader, default_source=source)
        candidate.prompt.data_source = data_source
        if reader.ok:
            parsed.append(candidate)
        report.errors += reader.errors
    fresh = _drop_duplicates(parsed, report)
    report.settle_errors(skip_bad=skip_bad)
    try:
        with transaction.atomic():
            report.labels_created = _write(fresh, progress)
    except IntegrityError as exc:
        raise Conflict(
            "Prompts were stored by someone else during this import; run it again "
            "(rows stored meanwhile will then be reported as duplicates)."
        ) from exc
    report.created = len(fresh)
    return report


def _read_prompt(reader: RowReader, *, default_source: str) -> _PromptRow:
    history = reader.json_value("history", list) or []
    if any(
        not isinstance(turn, list) or len(turn) != 2 or not all(isinstance(t, str) for t in turn)
        for turn in history
    ):
        reader.fail("history", "must be a list of [user, assistant] pairs of strings")
        history = []
    external_id_field, _ = reader.pick(*EXTERNAL_ID_KEYS)
    split = reader.text("split").lower() or Prompt.Split.UNASSIGNED
    if split not in Prompt.Split.values:
        reader.fail("split", f"must be one of {', '.join(Prompt.Split.values)}, not {split!r}")
    prompt = Prompt(
        instruction=reader.text("instruction", required=True),
        input=reader.text("input"),
        system=reader.text("system"),
        history=history,
        reference=reader.text("reference", "output", strip=False),
        source=reader.text("source", max_length=200) or default_source[:200],
        external_id=reader.text(*EXTERNAL_ID_KEYS, max_length=200) or None,
        split=split,
    )
    prompt.content_hash = prompt.compute_hash()
    return _PromptRow(reader.row, external_id_field, prompt, reader.labels("labels"))


def _stored(field_name: str, values: list[str]) -> dict[str, int]:
    stored: dict[str, int] = {}
    for batch in chunked(sorted(set(values))):
        lookup = {f"{field_name}__in": batch}
        stored.update(Prompt.objects.filter(**lookup).values_list(field_name, "id"))
    return stored


def _drop_duplicates(parsed: list[_PromptRow], report: ImportReport) -> list[_PromptRow]:
    """The rows to create; duplicates go to the report, conflicting external ids to errors."""
    stored_hash = _stored("content_hash", [item.prompt.content_hash for item in parsed])
    stored_ext = _stored(
        "external_id", [p.prompt.external_id for p in parsed if p.prompt.external_id]
    )
    seen_hash: dict[str, Row] = {}
    seen_ext: dict[str, Row] = {}
    fresh = []
    for item in parsed:
        row, content_hash, ext = item.row, item.prompt.content_hash, item.prompt.external_id

        def duplicate(reason: str, row: Row = row) -> None:
            report.duplicates.append(Duplicate(row.line, row.where, reason))

        if ext and ext in stored_ext:
            duplicate(f"external id {ext!r} is already stored (prompt {stored_ext[ext]})")
        elif content_hash in stored_hash:
            duplicate(f"the same prompt is already stored (prompt {stored_hash[content_hash]})")
        elif content_hash in seen_hash:
            duplicate(f"the same prompt as {seen_hash[content_hash].where}")
        elif ext and ext in seen_ext:
            report.errors.append(
                RowError(
                    row.line,
                    row.where,
                    item.external_id_field,
                    f"external id {ext!r} is already used by a different prompt on "
                    f"{seen_ext[ext].where}",
                )
            )
        else:
            seen_hash[content_hash] = row
            if ext:
                seen_ext[ext] = row
            fresh.append(item)
    return fresh


def _write(fresh: list[_PromptRow], progress: Progress | None) -> list[str]:
    """Create labels, prompts and their label links; returns the names of the new labels."""
    label_ids, created = labels_ensure(paths={path for item in fresh for path in item.labels})
    prompts = [item.prompt for item in fresh]
    bulk_create_reporting(Prompt, prompts, progress=progress, stage="writing prompts")
    link = Prompt.labels.through
    links = [
        link(prompt_id=item.prompt.pk, label_id=label_ids[path])
        for item in fresh
        for path in item.labels
    ]
    bulk_create_reporting(link, links, progress=progress, stage="writing labels")
    return created


def labels_ensure(*, paths: set[str]) -> tuple[dict[str, int], list[str]]:
    """Label ids for "a/b/c" style paths, creating missing ones parents first ("a", "a/b", ...).

    A label's name is its full path, so "billing/other" and "shipping/other" stay distinct.
    A name that was renamed or merged away resolves to the label it became
    (``labels_resolve``), so old files keep landing on the current taxonomy.
    Returns (path -> id, names created).
    """
    needed = {
        "/".join(path.split("/")[:depth])
        for path in paths
        for depth in range(1, path.count("/") + 2)
    }
    ids = labels_resolve(needed) if needed else {}
    created = sorted(needed - set(ids), key=lambda name: (name.count("/"), name))
    for name in created:
        parent = name.rpartition("/")[0]
        label = Label.objects.create(name=name, parent_id=ids.get(parent))
        LabelEvent.objects.create(
            label=label,
            action=LabelEvent.Action.CREATE,
            after={"name": name, "parent": label.parent_id, "via": "import"},
        )
        ids[name] = label.pk
    return ids, sorted(created)
