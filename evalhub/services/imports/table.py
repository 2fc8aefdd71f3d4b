"""Reading an import file into numbered rows: the one place that knows about file formats.

CSV goes through pandas (quoting, embedded newlines, ragged rows). JSON and JSON Lines go through
the standard ``json`` module on purpose: ``pandas.read_json`` turns integers into floats as soon
as one row lacks the key (question id 12 becomes "12.0"), silently drops blank lines (so physical
line numbers are lost) and reports byte positions instead of lines.

Line numbers: CSV counts the header as line 1 (the first data row is line 2; a quoted cell with
newlines still counts as one row); JSON Lines uses the physical line; a JSON array uses the item
index + 1, written "item N".
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from evalhub.services.errors import InvalidInput

FORMATS = ("csv", "jsonl", "json")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


class MalformedFile(InvalidInput):
    """The file as a whole cannot be read (encoding, syntax, empty, required columns missing)."""

    code = "malformed_file"


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, Any]
    is_item: bool = False  # numbered as an item of a JSON array, not as a line
    problem: str = ""  # why the row could not be read at all (not JSON, not an object)

    @property
    def where(self) -> str:
        return f"item {self.line}" if self.is_item else f"line {self.line}"


@dataclass(frozen=True)
class ImportTable:
    format: str
    filename: str
    rows: list[Row]
    columns: frozenset[str]

    def require(self, *groups: str | tuple[str, ...]) -> None:
        """Each group is a column name or a tuple of accepted alternatives; all groups must exist."""
        missing = [
            " or ".join(group) if isinstance(group, tuple) else group
            for group in groups
            if not self.columns.intersection((group,) if isinstance(group, str) else group)
        ]
        if missing:
            found = ", ".join(sorted(self.columns)) or "none"
            raise MalformedFile(
                f"Missing required column(s): {'; '.join(missing)}. Found: {found}.",
                details={"missing": missing, "found": sorted(self.columns)},
            )

    def ignored_columns(self, known: Iterable[str]) -> list[str]:
        return sorted(self.columns - set(known))


def import_format_detect(*, filename: str, format: str | None = None) -> str:
    if format:
        chosen = format.strip().lower()
        if chosen not in FORMATS:
            raise MalformedFile(
                f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.",
                details={"field": "format"},
            )
        return chosen
    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in _EXTENSIONS:
        raise MalformedFile(
            f"Cannot tell the format of {filename or 'the file'!r} from its name; "
            f"name it .csv, .jsonl or .json, or pass a format ({', '.join(FORMATS)}).",
            details={"field": "format"},
        )
    return _EXTENSIONS[suffix]


def import_file_read(*, data: bytes, filename: str = "", format: str | None = None) -> ImportTable:
    """Decode and parse an uploaded or local file; raise MalformedFile when it cannot be read."""
    chosen = import_format_detect(filename=filename, format=format)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedFile(
            f"The file is not UTF-8 text (undecodable byte at offset {exc.start}); "
            "save it as UTF-8 and try again."
        ) from exc
    if not text.strip():
        raise MalformedFile("The file is empty.")
    readers = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json}
    rows = readers[chosen](text)
    if not rows:
        raise MalformedFile("The file has no rows.")
    columns: set[str] = set()
    for row in rows:
        columns.update(row.values)
    return ImportTable(format=chosen, filename=filename, rows=rows, columns=frozenset(columns))


def _read_csv(text: str) -> list[Row]:
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,  # a row longer than the header is an error, not a silent index column
            dtype=str,
            keep_default_na=False,  # "NA", "null" and "" stay text; only "" means missing
            skip_blank_lines=False,  # keep blank rows so the row numbers stay right
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise MalformedFile(f"The CSV file could not be parsed: {reason}") from exc
    cells = frame.to_numpy().tolist()
    header = [str(name or "").strip().lower() for name in cells[0]]
    if any(not name for name in header):
        raise MalformedFile("Every CSV column needs a name in the header (line 1).")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise MalformedFile(f"The CSV header repeats column(s): {', '.join(repeated)}.")
    rows = []
    for line, record in enumerate(cells[1:], start=2):
        values = {
            name: (cell if isinstance(cell, str) else "")
            for name, cell in zip(header, record, strict=True)
        }
        if any(value.strip() for value in values.values()):
            rows.append(Row(line=line, values=values))
    return rows


def _read_jsonl(text: str) -> list[Row]:
    rows = []
    # split("\n"), not splitlines(): a JSON string may hold a raw U+2028, which is not a new line.
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            if not rows:
                raise MalformedFile(
                    f"Line {line} is not JSON ({exc.msg}); is this really a JSON Lines file?"
                ) from exc
            rows.append(Row(line=line, values={}, problem=f"is not valid JSON ({exc.msg})"))
            continue
        rows.append(_object_row(value, line=line, is_item=False))
    return rows


def _read_json(text: str) -> list[Row]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedFile(
            f"The file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    if not isinstance(value, list):
        raise MalformedFile(
            "A JSON import must be a list of objects ([{...}, {...}]); for one object per line "
            "use JSON Lines (.jsonl)."
        )
    return [_object_row(item, line=index, is_item=True) for index, item in enumerate(value, 1)]


def json_type_name(value: Any) -> str:
    """What a JSON user calls the type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _object_row(value: Any, *, line: int, is_item: bool) -> Row:
    if isinstance(value, dict):
        return Row(
            line=line, values={str(key): item for key, item in value.items()}, is_item=is_item
        )
    kind = json_type_name(value)
    return Row(line=line, values={}, is_item=is_item, problem=f"is a JSON {kind}, not an object")
