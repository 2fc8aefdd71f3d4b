"""Import model outputs from CSV or JSON Lines (JSON arrays work too).

Columns: ``prompt_external_id`` (or ``external_id`` / ``question_id``) naming a stored prompt,
``model`` (a registered model version name), ``text``; optional ``sample_index`` (default 0),
``params`` (a JSON object; JSON text in a CSV cell), ``latency_ms``, ``prompt_tokens``,
``completion_tokens``, ``finish_reason``. An output whose (prompt, model, sample_index, params)
is already stored, or appeared earlier in the file, is a duplicate and is not stored again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from evalhub.models import DataSource, ModelVersion, Output, Prompt
from evalhub.models.prompts import params_hash
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

PROMPT_KEYS = ("prompt_external_id", "external_id", "question_id")
KNOWN_COLUMNS = (
    *PROMPT_KEYS, "model", "text", "sample_index", "params", "latency_ms", "prompt_tokens",
    "completion_tokens", "finish_reason",
)  # fmt: skip


@dataclass
class OutputImportReport(ImportReport):
    models_created: list[str] = field(default_factory=list)

    def extra(self) -> dict[str, Any]:
        return {"models_created": self.models_created}


@dataclass
class _OutputRow:
    row: Row
    prompt_field: str
    prompt_external_id: str
    model: str
    output: Output


def outputs_import(
    *,
    table: ImportTable,
    skip_bad: bool = False,
    create_models: bool = False,
    data_source: DataSource | None = None,
    progress: Progress | None = None,
) -> OutputImportReport:
    """Store the new outputs of ``table`` (origin imported); all or nothing unless ``skip_bad``."""
    table.require(PROMPT_KEYS, "model", "text")
    report = OutputImportReport(
        kind="outputs",
        format=table.format,
        rows=len(table.rows),
        ignored_columns=table.ignored_columns(KNOWN_COLUMNS),
    )
    parsed = []
    for row in with_progress(table.rows, progress):
        reader = RowReader(row)
        candidate = _read_output(reader)
        candidate.output.data_source = data_source
        if reader.ok:
            parsed.append(candidate)
        report.errors += reader.errors
    prompt_ids = _prompt_ids([item.prompt_external_id for item in parsed])
    model_ids = dict(
        ModelVersion.objects.filter(name__in={item.model for item in parsed}).values_list(
            "name", "id"
        )
    )
    new_models = sorted({item.model for item in parsed} - set(model_ids)) if create_models else []
    resolved = _resolve(parsed, prompt_ids, model_ids, set(new_models), report)
    fresh = _drop_duplicates(resolved, model_ids, report)
    report.settle_errors(skip_bad=skip_bad)
    try:
        with transaction.atomic():
            report.models_created = _write(fresh, model_ids, new_models, progress)
    except IntegrityError as exc:
        raise Conflict(
            "Outputs or model versions were stored by someone else during this import; run it "
            "again (rows stored meanwhile will then be reported as duplicates)."
        ) from exc
    report.created = len(fresh)
    return report


def _read_output(reader: RowReader) -> _OutputRow:
    prompt_field, _ = reader.pick(*PROMPT_KEYS)
    prompt_external_id = reader.text(*PROMPT_KEYS, required=True)
    model = reader.text("model", required=True, max_length=200)
    text = reader.text("text", strip=False)
    if not text.strip():
        reader.fail("text", "is required and empty")
    params = reader.json_value("params", dict) or {}
    output = Output(
        text=text,
        sample_index=reader.integer("sample_index") or 0,
        params=params,
        params_hash=params_hash(params),
        latency_ms=reader.number("latency_ms"),
        prompt_tokens=reader.integer("prompt_tokens"),
        completion_tokens=reader.integer("completion_tokens"),
        finish_reason=reader.text("finish_reason", max_length=32),
        origin=Output.Origin.IMPORTED,
    )
    return _OutputRow(reader.row, prompt_field, prompt_external_id, model, output)


def _prompt_ids(external_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for batch in chunked(sorted(set(external_ids))):
        found.update(Prompt.objects.filter(external_id__in=batch).values_list("external_id", "id"))
    return found


def _resolve(
    parsed: list[_OutputRow],
    prompt_ids: dict[str, int],
    model_ids: dict[str, int],
    new_models: set[str],
    report: ImportReport,
) -> list[_OutputRow]:
    """Point each output at its prompt; unknown prompts and models are row errors."""
    resolved = []
    for item in parsed:
        row, ok = item.row, True
        if item.prompt_external_id not in prompt_ids:
            ok = False
            report.errors.append(
                RowError(
                    row.line,
                    row.where,
                    item.prompt_field,
                    f"no stored prompt has external id {item.prompt_external_id!r}; "
                    "import the prompts first",
                )
            )
        if item.model not in model_ids and item.model not in new_models:
            ok = False
            report.errors.append(
                RowError(
                    row.line,
                    row.where,
                    "model",
                    f"unknown model version {item.model!r}; register it first (admin or POST "
                    "/api/v1/models), or let the import create it (--create-models, API "
                    "create_models=true)",
                )
            )
        if ok:
            item.output.prompt_id = prompt_ids[item.prompt_external_id]
            resolved.append(item)
    return resolved


def _drop_duplicates(
    resolved: list[_OutputRow], model_ids: dict[str, int], report: ImportReport
) -> list[_OutputRow]:
    id_to_name = {pk: name for name, pk in model_ids.items()}
    stored: dict[tuple[int, str, int, str], int] = {}
    for batch in chunked(sorted({item.output.prompt_id for item in resolved})):
        rows = Output.objects.filter(
            prompt_id__in=batch, model_version_id__in=list(id_to_name)
        ).values_list("prompt_id", "model_version_id", "sample_index", "params_hash", "id")
        for prompt_id, model_id, sample_index, hashed, pk in rows:
            stored[(prompt_id, id_to_name[model_id], sample_index, hashed)] = pk
    seen: dict[tuple[int, str, int, str], Row] = {}
    fresh = []
    for item in resolved:
        out, row = item.output, item.row
        key = (out.prompt_id, item.model, out.sample_index, out.params_hash)
        if key in stored:
            reason = f"the same output is already stored (output {stored[key]})"
        elif key in seen:
            reason = f"the same prompt, model, sample_index and params as {seen[key].where}"
        else:
            seen[key] = row
            fresh.append(item)
            continue
        report.duplicates.append(Duplicate(row.line, row.where, reason))
    return fresh


def _write(
    fresh: list[_OutputRow],
    model_ids: dict[str, int],
    new_models: list[str],
    progress: Progress | None,
) -> list[str]:
    created = []
    used = {item.model for item in fresh}
    for name in new_models:
        if name in used:
            model_ids[name] = ModelVersion.objects.create(
                name=name, backend=ModelVersion.Backend.IMPORTED
            ).pk
            created.append(name)
    for item in fresh:
        item.output.model_version_id = model_ids[item.model]
    outputs = [item.output for item in fresh]
    bulk_create_reporting(Output, outputs, progress=progress, stage="writing outputs")
    return created
