"""Row-level checking shared by the importers: typed field readers, row errors, the report.

An importer reads every row with a ``RowReader`` (which records each bad field with its line),
then either raises ``InvalidRows`` (nothing is written) or, with ``skip_bad``, writes the good
rows and lists the bad ones in its report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from django.db.models import Model

from evalhub.services.errors import ServiceError
from evalhub.services.imports.table import Row, json_type_name

BATCH = 1000  # rows per INSERT: well under SQLite's bound-parameter cap for every model here
LISTED_AT_MOST = 1000  # rows named in an error or report; the counts are always complete
LABEL_SEPARATOR = "|"  # CSV cells hold several labels as "billing|billing/refund"

T = TypeVar("T")


class Progress(Protocol):
    """Told how far a stage ("checking", "writing prompts", ...) has got; the CLI draws bars."""

    def __call__(self, stage: str, done: int, total: int) -> None: ...


def chunked(items: Sequence[T], size: int = 2000) -> Iterator[Sequence[T]]:
    """Batches for ``__in`` lookups (SQLite caps bound parameters) and bulk writes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def with_progress(
    items: Sequence[T], progress: Progress | None, stage: str = "checking", step: int = 1000
) -> Iterator[T]:
    """Yield ``items``, reporting to ``progress`` every ``step`` items and at the end."""
    for index, item in enumerate(items, start=1):
        yield item
        if progress is not None and (index % step == 0 or index == len(items)):
            progress(stage, index, len(items))


def bulk_create_reporting(
    model: type[Model], objects: Sequence[Model], *, progress: Progress | None, stage: str
) -> None:
    """``bulk_create`` in batches, reporting each batch (the writes are most of a big import)."""
    for start in range(0, len(objects), BATCH):
        model._default_manager.bulk_create(objects[start : start + BATCH])
        if progress is not None:
            progress(stage, min(start + BATCH, len(objects)), len(objects))


@dataclass(frozen=True)
class RowError:
    line: int
    where: str
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "where": self.where,
            "field": self.field,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.where}, field {self.field}: {self.message}"


@dataclass(frozen=True)
class Duplicate:
    line: int
    where: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "where": self.where, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def _bad_row_count(errors: Sequence[RowError]) -> int:
    return len({error.line for error in errors})


class InvalidRows(ServiceError):
    """Some rows are bad and the caller did not ask to skip them: nothing was stored."""

    status_code = 400
    code = "invalid_rows"

    def __init__(self, errors: Sequence[RowError]) -> None:
        ordered = sorted(errors, key=lambda error: error.line)
        shown = "; ".join(str(error) for error in ordered[:5])
        more = f"; and {len(ordered) - 5} more" if len(ordered) > 5 else ""
        super().__init__(
            f"{_bad_row_count(ordered)} bad row(s), nothing was imported: {shown}{more}. "
            "Fix them, or skip them with --skip-bad (API: skip_bad=true).",
            details={
                "errors": [error.as_dict() for error in ordered[:LISTED_AT_MOST]],
                "n_errors": len(ordered),
            },
        )
        self.errors = ordered


class RowReader:
    """Reads typed fields from one row; each problem is recorded against the row's line."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.errors: list[RowError] = []
        if row.problem:
            self.fail("row", row.problem)

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, field_name: str, message: str) -> None:
        self.errors.append(RowError(self.row.line, self.row.where, field_name, message))

    def pick(self, *names: str) -> tuple[str, Any]:
        """The first of ``names`` that holds a value, else (first name, None)."""
        for name in names:
            value = self.row.values.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            return name, value
        return names[0], None

    def text(
        self, *names: str, required: bool = False, max_length: int = 0, strip: bool = True
    ) -> str:
        name, value = self.pick(*names)
        if value is None:
            if required:
                self.fail(name, "is required and empty")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(name, f"must be text, not a JSON {json_type_name(value)}")
            return ""
        text = str(value).strip() if strip else str(value)
        if max_length and len(text) > max_length:
            self.fail(name, f"is too long ({len(text)} characters, {max_length} at most)")
        return text

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        _, value = self.pick(name)
        if value is None:
            return None
        number = _as_number(value)
        if number is None or not number.is_integer() or number < minimum:
            self.fail(name, f"must be a whole number >= {minimum}, not {value!r}")
            return None
        return int(number)

    def number(self, name: str, *, minimum: float | None = 0) -> float | None:
        _, value = self.pick(name)
        if value is None:
            return None
        number = _as_number(value)
        if number is None or (minimum is not None and number < minimum):
            bound = "" if minimum is None else f" >= {minimum:g}"
            self.fail(name, f"must be a number{bound}, not {value!r}")
            return None
        return number

    def json_value(self, name: str, expected: type) -> Any:
        """A JSON value of type ``expected`` (list or dict); CSV cells hold it as JSON text."""
        _, value = self.pick(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                self.fail(name, f"is not valid JSON ({exc.msg})")
                return None
        if not isinstance(value, expected):
            wanted = "a JSON object" if expected is dict else "a JSON array"
            self.fail(name, f"must be {wanted}, not a JSON {json_type_name(value)}")
            return None
        return value

    def labels(self, name: str) -> list[str]:
        """Label paths: a JSON array of strings, or one text of paths separated by "|"."""
        _, value = self.pick(name)
        if value is None:
            return []
        items = value.split(LABEL_SEPARATOR) if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.fail(name, f'must be a list of strings or text like "a{LABEL_SEPARATOR}b/c"')
            return []
        paths = []
        for item in items:
            if not item.strip():
                continue
            segments = [segment.strip() for segment in item.split("/")]
            path = "/".join(segments)
            if not all(segments):
                self.fail(name, f"label {item.strip()!r} has an empty part")
            elif len(path) > 100:
                self.fail(name, f"label {path[:40]!r}... is too long (100 characters at most)")
            elif path not in paths:
                paths.append(path)
        return paths


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class ImportReport:
    """What an import did. ``errors`` holds the bad rows that were skipped (skip_bad only)."""

    kind: str
    format: str
    rows: int = 0
    created: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def settle_errors(self, *, skip_bad: bool) -> None:
        """Raise InvalidRows when there are bad rows and they may not be skipped."""
        self.errors.sort(key=lambda error: error.line)
        if self.errors and not skip_bad:
            raise InvalidRows(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "rows": self.rows,
            "created": self.created,
            "duplicates": len(self.duplicates),
            "errors": _bad_row_count(self.errors),
            "duplicate_rows": [dup.as_dict() for dup in self.duplicates[:LISTED_AT_MOST]],
            "bad_rows": [error.as_dict() for error in self.errors[:LISTED_AT_MOST]],
            "ignored_columns": self.ignored_columns,
            **self.extra(),
        }

    def extra(self) -> dict[str, Any]:
        return {}

    def summary_lines(self) -> list[str]:
        """Plain text for the CLI: the counts, then each duplicate and skipped row."""
        extra = ", ".join(
            f"{key.replace('_', ' ')}: {_count(value)}" for key, value in self.extra().items()
        )
        lines = [
            f"{self.kind}: {self.rows} rows read, {self.created} created, "
            f"{len(self.duplicates)} duplicates, {_bad_row_count(self.errors)} bad rows skipped"
            + (f"; {extra}" if extra else "")
        ]
        if self.ignored_columns:
            lines.append(f"ignored columns: {', '.join(self.ignored_columns)}")
        lines += [f"duplicate {dup}" for dup in self.duplicates[:LISTED_AT_MOST]]
        lines += [f"skipped {error}" for error in self.errors[:LISTED_AT_MOST]]
        return lines


def _count(value: Any) -> Any:
    if isinstance(value, list):
        return f"{len(value)} ({', '.join(map(str, value))})" if value else 0
    return value
