"""Reading conversation files for ``import_conversations`` (JSONL, JSON or CSV).

- JSONL (or a JSON list): one conversation per line / item:
  ``{"external_id": "T-1", "channel": "chat", "subject": "...", "system": "...",
  "messages": [{"role": "customer", "text": "..."}, {"role": "agent", "text": "..."}, ...]}``
  (``id`` or ``conversation_id`` are accepted for ``external_id``).
- CSV: one row per message, in order, with columns ``conversation_id``, ``role`` and ``text``
  (``content`` or ``message`` also work), and optionally ``channel``, ``subject``, ``system``
  (taken from a conversation's first row). Rows of one conversation need not be adjacent.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from evalhub.services.errors import InvalidInput
from feedback.services.conversations import ConversationIn

FORMATS = ("jsonl", "json", "csv")
ID_KEYS = ("external_id", "conversation_id", "id")
TEXT_KEYS = ("text", "content", "message")


def _from_object(item: Any) -> ConversationIn | str:
    if not isinstance(item, dict):
        return "not a JSON object"
    external_id = next((str(item[k]) for k in ID_KEYS if item.get(k) not in (None, "")), "")
    return ConversationIn(
        messages=item.get("messages"),
        external_id=external_id,
        channel=str(item.get("channel") or ""),
        subject=str(item.get("subject") or ""),
        system=str(item.get("system") or ""),
    )


def _read_jsonl(text: str) -> list[tuple[int, ConversationIn | str]]:
    records: list[tuple[int, ConversationIn | str]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            records.append((line, _from_object(json.loads(raw))))
        except json.JSONDecodeError as error:
            records.append((line, f"not valid JSON: {error.msg}"))
    return records


def _read_json(text: str) -> list[tuple[int, ConversationIn | str]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"Not valid JSON: {error}") from error
    if not isinstance(items, list):
        raise InvalidInput("A JSON file must hold a list of conversations.")
    return [(number, _from_object(item)) for number, item in enumerate(items, start=1)]


def _read_csv(text: str) -> list[tuple[int, ConversationIn | str]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    id_key = next((k for k in ID_KEYS if k in columns), None)
    text_key = next((k for k in TEXT_KEYS if k in columns), None)
    if id_key is None or text_key is None or "role" not in columns:
        raise InvalidInput(
            "A conversation CSV needs the columns conversation_id, role and text "
            f"(found: {', '.join(sorted(columns)) or 'none'})."
        )
    grouped: dict[str, dict[str, Any]] = {}
    for row in reader:
        key = (row.get(id_key) or "").strip()
        line = reader.line_num
        if key not in grouped:
            grouped[key] = {"line": line, "row": row, "messages": []}
        grouped[key]["messages"].append({"role": row.get("role"), "text": row.get(text_key)})
    records: list[tuple[int, ConversationIn | str]] = []
    for key, group in grouped.items():
        if not key:
            records.append((group["line"], f"rows without {id_key}"))
            continue
        first = group["row"]
        records.append(
            (
                group["line"],
                ConversationIn(
                    messages=group["messages"],
                    external_id=key,
                    channel=(first.get("channel") or "").strip(),
                    subject=(first.get("subject") or "").strip(),
                    system=(first.get("system") or "").strip(),
                ),
            )
        )
    return records


def read_conversations(
    path: str | Path, fmt: str | None = None
) -> list[tuple[int, ConversationIn | str]]:
    """(line, conversation or what is wrong with it) for every record of the file."""
    path = Path(path)
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path} is not UTF-8 text.") from error
    match fmt:
        case "jsonl":
            return _read_jsonl(text)
        case "json":
            return _read_json(text)
        case _:
            return _read_csv(text)
