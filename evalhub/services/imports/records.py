"""Continuous import from an online system: batches of records pushed to one data source.

A record is a prompt with a required ``external_id`` (the online system's id), the Alpaca fields,
optional ``labels`` and optional ``outputs`` (``[{"model", "text", "sample_index"?}]``, each by a
registered model version). The import is append-only and idempotent:

- an external id already stored is never overwritten: the same content (and source) is
  ``unchanged``; different content, or a prompt of another source, is a ``conflict`` (reported
  per record, the rest of the batch still lands);
- a new external id whose content is already stored under another id is a ``duplicate``;
- an output already stored for (prompt, model, sample index) with the same text is unchanged,
  with another text a conflict; new outputs of an already stored prompt are appended;
- a retried batch therefore changes nothing; ``accepted`` (created + unchanged) is the same on
  every retry. The API also honours ``Idempotency-Key`` (the first response is replayed).

Bad records (missing fields, wrong types, unknown models) are named by item number and field;
nothing is stored unless ``skip_bad``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from evalhub.models import DataSource, ModelVersion, Output, Prompt
from evalhub.models.prompts import params_hash
from evalhub.services.audit import audit_record
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.imports.prompts import _read_prompt, labels_ensure
from evalhub.services.imports.rows import (
    LISTED_AT_MOST,
    InvalidRows,
    RowError,
    RowReader,
    chunked,
)
from evalhub.services.imports.table import Row, json_type_name

BATCH_MAX = 5000


@dataclass
class RecordsReport:
    records: int = 0
    created: int = 0
    unchanged: int = 0
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    outputs_created: int = 0
    outputs_unchanged: int = 0
    output_conflicts: list[dict[str, Any]] = field(default_factory=list)
    labels_created: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "accepted": self.created + self.unchanged,
            "created": self.created,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates[:LISTED_AT_MOST],
            "conflicts": self.conflicts[:LISTED_AT_MOST],
            "outputs_created": self.outputs_created,
            "outputs_unchanged": self.outputs_unchanged,
            "output_conflicts": self.output_conflicts[:LISTED_AT_MOST],
            "labels_created": self.labels_created,
            "bad_records": [error.as_dict() for error in self.errors[:LISTED_AT_MOST]],
        }


@dataclass
class _Record:
    item: int
    prompt: Prompt
    labels: list[str]
    outputs: list[tuple[str, int, str]]  # (model, sample index, text)


def _read_outputs(reader: RowReader) -> list[tuple[str, int, str]]:
    raw = reader.row.values.get("outputs")
    if raw is None:
        return []
    if not isinstance(raw, list):
        reader.fail("outputs", f"must be a JSON array, not a JSON {json_type_name(raw)}")
        return []
    outputs = []
    for position, entry in enumerate(raw):
        where = f"outputs[{position}]"
        if not isinstance(entry, dict):
            reader.fail(where, "must be an object with model and text")
            continue
        inner = RowReader(Row(reader.row.line, entry, is_item=True))
        model = inner.text("model", required=True, max_length=200)
        text = inner.text("text", strip=False)
        if not text.strip():
            inner.fail("text", "is required and empty")
        sample_index = inner.integer("sample_index") or 0
        for error in inner.errors:
            reader.fail(f"{where}.{error.field}", error.message)
        if inner.ok:
            outputs.append((model, sample_index, text))
    return outputs


def _read(records: list[Any], source: DataSource, report: RecordsReport) -> list[_Record]:
    parsed = []
    for item, values in enumerate(records, start=1):
        if not isinstance(values, dict):
            problem = f"must be a JSON object, not a JSON {json_type_name(values)}"
            reader = RowReader(Row(item, {}, is_item=True, problem=problem))
        else:
            reader = RowReader(Row(item, values, is_item=True))
            reader.text("external_id", required=True)
        if reader.ok:
            read = _read_prompt(reader, default_source=source.name)
            read.prompt.data_source = source
            outputs = _read_outputs(reader)
            if reader.ok:
                parsed.append(_Record(item, read.prompt, read.labels, outputs))
        report.errors += reader.errors
    return parsed


def _check_models(parsed: list[_Record], report: RecordsReport) -> tuple[list[_Record], dict]:
    names = {model for record in parsed for model, _, _ in record.outputs}
    model_ids = dict(ModelVersion.objects.filter(name__in=names).values_list("name", "id"))
    kept = []
    for record in parsed:
        unknown = sorted({model for model, _, _ in record.outputs} - set(model_ids))
        for name in unknown:
            report.errors.append(
                RowError(
                    record.item,
                    f"item {record.item}",
                    "outputs.model",
                    f"no model version named {name!r}; register it first",
                )
            )
        if not unknown:
            kept.append(record)
    return kept, model_ids


def _classify(parsed: list[_Record], source: DataSource, report: RecordsReport) -> tuple:
    """(records to create, stored prompt id per external id for records already there)."""
    stored: dict[str, tuple[int, str, int | None]] = {}
    hashes: dict[str, int] = {}
    ext_ids = sorted({r.prompt.external_id for r in parsed if r.prompt.external_id})
    for batch in chunked(ext_ids):
        for pk, ext, content_hash, source_id in Prompt.objects.filter(
            external_id__in=batch
        ).values_list("pk", "external_id", "content_hash", "data_source_id"):
            stored[ext] = (pk, content_hash, source_id)
    for batch in chunked(sorted({r.prompt.content_hash for r in parsed})):
        hashes.update(
            Prompt.objects.filter(content_hash__in=batch).values_list("content_hash", "pk")
        )
    fresh: list[_Record] = []
    known: dict[str, int] = {}
    seen: dict[str, _Record] = {}
    seen_hash: dict[str, _Record] = {}
    for record in parsed:
        ext, content_hash = record.prompt.external_id or "", record.prompt.content_hash
        entry = {"item": record.item, "external_id": ext}
        if ext in stored:
            pk, stored_hash, source_id = stored[ext]
            if source_id != source.pk:
                report.conflicts.append({**entry, "prompt_id": pk, "reason": "other_source"})
            elif stored_hash != content_hash:
                report.conflicts.append({**entry, "prompt_id": pk, "reason": "content_differs"})
            else:
                report.unchanged += 1
                known[ext] = pk
        elif ext in seen:
            if seen[ext].prompt.content_hash != content_hash:
                report.conflicts.append({**entry, "reason": "content_differs_in_batch"})
            else:
                report.unchanged += 1
        elif content_hash in hashes or content_hash in seen_hash:
            report.duplicates.append({**entry, "prompt_id": hashes.get(content_hash)})
        else:
            seen[ext], seen_hash[content_hash] = record, record
            fresh.append(record)
    return fresh, known


def source_records_import(
    *, source: DataSource, records: list[Any], skip_bad: bool = False
) -> RecordsReport:
    """Append a batch of records to ``source`` (see the module docstring)."""
    if not source.is_active:
        raise Conflict(
            f"Data source {source.name!r} is retired; reactivate it to take new records.",
            details={"field": "source"},
        )
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty JSON array.", details={"field": "records"})
    if len(records) > BATCH_MAX:
        raise InvalidInput(
            f"At most {BATCH_MAX} records per batch; split it.", details={"field": "records"}
        )
    report = RecordsReport(records=len(records))
    parsed = _read(records, source, report)
    parsed, model_ids = _check_models(parsed, report)
    report.errors.sort(key=lambda error: error.line)
    if report.errors and not skip_bad:
        raise InvalidRows(report.errors)
    try:
        with transaction.atomic():
            fresh, known = _classify(parsed, source, report)
            _write(fresh, known, parsed, model_ids, source, report)
            audit_record(
                action="datasource.records",
                obj=source,
                after={"created": report.created, "outputs_created": report.outputs_created},
                note=f"{report.records} records: {report.created} new, {report.unchanged} "
                f"unchanged, {len(report.conflicts)} conflicts",
            )
    except IntegrityError as exc:
        raise Conflict(
            "Records were stored by someone else during this batch; send it again "
            "(what was stored meanwhile is then reported as unchanged)."
        ) from exc
    return report


def _write(
    fresh: list[_Record],
    known: dict[str, int],
    parsed: list[_Record],
    model_ids: dict[str, int],
    source: DataSource,
    report: RecordsReport,
) -> None:
    label_ids, report.labels_created = labels_ensure(
        paths={path for record in fresh for path in record.labels}
    )
    Prompt.objects.bulk_create([record.prompt for record in fresh], batch_size=1000)
    Prompt.labels.through.objects.bulk_create(
        [
            Prompt.labels.through(prompt_id=record.prompt.pk, label_id=label_ids[path])
            for record in fresh
            for path in record.labels
        ],
        batch_size=1000,
    )
    report.created = len(fresh)
    prompt_of = {record.prompt.external_id: record.prompt.pk for record in fresh} | known
    no_params = params_hash({})
    wanted = {
        (prompt_of[record.prompt.external_id], model_ids[model], index): (record, text)
        for record in parsed
        if record.prompt.external_id in prompt_of
        for model, index, text in record.outputs
    }
    stored = {}
    for batch in chunked(sorted(set(known.values()))):
        outputs = Output.objects.filter(prompt_id__in=batch, params_hash=no_params)
        for prompt, model, index, text in outputs.values_list(
            "prompt_id", "model_version_id", "sample_index", "text"
        ):
            stored[(prompt, model, index)] = text
    new_outputs = []
    for (prompt_id, model_id, index), (record, text) in wanted.items():
        if (prompt_id, model_id, index) not in stored:
            new_outputs.append(
                Output(
                    prompt_id=prompt_id,
                    model_version_id=model_id,
                    sample_index=index,
                    text=text,
                    params={},
                    origin=Output.Origin.IMPORTED,
                    data_source=source,
                )
            )
        elif stored[(prompt_id, model_id, index)] == text:
            report.outputs_unchanged += 1
        else:
            report.output_conflicts.append(
                {"item": record.item, "external_id": record.prompt.external_id,
                 "model_id": model_id, "sample_index": index, "reason": "text_differs"}
            )  # fmt: skip
    for output in new_outputs:
        output.params_hash = no_params
    Output.objects.bulk_create(new_outputs, batch_size=1000)
    report.outputs_created = len(new_outputs)
