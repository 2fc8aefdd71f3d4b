"""Exports of a frozen dataset version, per format and split.

Formats (``EXPORT_FORMATS``):

- ``trl``: TRL's standard preference rows, JSON lines ``{"prompt", "chosen", "rejected"}`` as
  plain text (a prompt with a system message or history is written as "System: / User: /
  Assistant:" paragraphs; prefer the conversational form for those);
- ``trl-conversational``: ``{"prompt": [messages], "chosen": [assistant message],
  "rejected": [assistant message]}`` (what ``manage.py train`` uses for DPO and reward models;
  the messages are built exactly as generation builds them);
- ``sft``: conversational prompt / completion rows: the SFT examples (agents' edits) and the
  chosen answer of every pair, each (prompt, answer) once;
- ``alpaca``: the same rows as ``sft`` as one Alpaca JSON array (``instruction``, ``input``,
  ``output``, plus ``system`` and ``history`` when the prompt has them);
- ``kto`` / ``kto-conversational``: unpaired thumbs, ``{"prompt", "completion", "label"}``.

Files are written once at freeze time under ``DATA_DIR/datasets/<id>-<name>/<format>/<split>``
and fingerprinted (rows, sha256) in ``DatasetVersion.exports``; the same bytes are produced again
on any machine from the database, so a missing file is simply rewritten.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.text import slugify

from evalhub.generation.base import build_messages
from evalhub.services.errors import InvalidInput
from training.models import DatasetItem, DatasetVersion

EXPORT_FORMATS = ("trl", "trl-conversational", "sft", "alpaca", "kto", "kto-conversational")
EXPORT_SPLITS = ("train", "val", "test", "all")
PROMPT_FIELDS = ("prompt__system", "prompt__history", "prompt__instruction", "prompt__input")


def dataset_dir(dataset: DatasetVersion) -> Path:
    return Path(settings.DATA_DIR) / "datasets" / f"{dataset.pk:05d}-{slugify(dataset.name)[:60]}"


def export_filename(fmt: str, split: str) -> str:
    return f"{fmt}/{split}.json" if fmt == "alpaca" else f"{fmt}/{split}.jsonl"


def _check(fmt: str, split: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}."
        )
    if split not in EXPORT_SPLITS:
        raise InvalidInput(f"Unknown split {split!r}; use one of {', '.join(EXPORT_SPLITS)}.")


def prompt_messages(prompt: tuple[Any, ...]) -> list[dict[str, str]]:
    system, history, instruction, input_text = prompt
    return list(build_messages(system, history or (), instruction, input_text))


def prompt_text(prompt: tuple[Any, ...]) -> str:
    system, history, instruction, input_text = prompt
    content = f"{instruction}\n\n{input_text}" if input_text else instruction
    if not system and not history:
        return str(content)
    parts = [f"System: {system}"] if system else []
    for user, assistant in history or []:
        parts += [f"User: {user}", f"Assistant: {assistant}"]
    parts.append(f"User: {content}")
    return "\n\n".join(parts)


def _items(dataset: DatasetVersion, split: str) -> QuerySet[DatasetItem]:
    items = DatasetItem.objects.filter(dataset=dataset)
    return items if split == "all" else items.filter(split=split)


def _answer(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def export_rows(dataset: DatasetVersion, fmt: str, split: str) -> Iterator[dict[str, Any]]:
    """The rows of one export, in a fixed order (item id)."""
    _check(fmt, split)
    items = _items(dataset, split).order_by("id")
    if fmt in ("trl", "trl-conversational"):
        conversational = fmt == "trl-conversational"
        for chosen, rejected, *prompt in (
            items.filter(pair__isnull=False)
            .values_list("pair__chosen_text", "pair__rejected_text", *PROMPT_FIELDS)
            .iterator(chunk_size=2000)
        ):
            if conversational:
                yield {"prompt": prompt_messages(tuple(prompt)), "chosen": _answer(chosen),
                       "rejected": _answer(rejected)}  # fmt: skip
            else:
                yield {"prompt": prompt_text(tuple(prompt)), "chosen": chosen, "rejected": rejected}
    elif fmt in ("kto", "kto-conversational"):
        for completion, label, *prompt in (
            items.filter(example__kind="kto")
            .values_list("example__completion", "example__label", *PROMPT_FIELDS)
            .iterator(chunk_size=2000)
        ):
            if fmt == "kto":
                yield {"prompt": prompt_text(tuple(prompt)), "completion": completion,
                       "label": bool(label)}  # fmt: skip
            else:
                yield {"prompt": prompt_messages(tuple(prompt)), "completion": _answer(completion),
                       "label": bool(label)}  # fmt: skip
    else:
        for prompt, answer in _sft_pairs(items):
            if fmt == "sft":
                yield {"prompt": prompt_messages(prompt), "completion": _answer(answer)}
            else:
                yield _alpaca_row(prompt, answer)


def _sft_pairs(items: QuerySet[DatasetItem]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(prompt fields, answer): SFT examples first, then chosen answers, each pair once."""
    seen: set[tuple[int, str]] = set()
    examples = items.filter(example__kind="sft").values_list(
        "prompt_id", "example__completion", *PROMPT_FIELDS
    )
    chosen = items.filter(pair__isnull=False).values_list(
        "prompt_id", "pair__chosen_text", *PROMPT_FIELDS
    )
    for rows in (examples, chosen):
        for prompt_id, answer, *prompt in rows.iterator(chunk_size=2000):
            if (prompt_id, answer) not in seen:
                seen.add((prompt_id, answer))
                yield tuple(prompt), answer


def _alpaca_row(prompt: tuple[Any, ...], answer: str) -> dict[str, Any]:
    system, history, instruction, input_text = prompt
    row: dict[str, Any] = {"instruction": instruction, "input": input_text or "", "output": answer}
    if system:
        row["system"] = system
    if history:
        row["history"] = [list(turn) for turn in history]
    return row


def dataset_export_write(dataset: DatasetVersion, fmt: str, split: str, handle: IO[str]) -> int:
    """Write one export to a text handle; returns the number of rows."""
    count = 0
    alpaca = fmt == "alpaca"
    if alpaca:
        handle.write("[")
    for row in export_rows(dataset, fmt, split):
        text = json.dumps(row, ensure_ascii=False)
        if alpaca:
            text = ("\n  " if count == 0 else ",\n  ") + text
        handle.write(text if alpaca else text + "\n")
        count += 1
    if alpaca:
        handle.write("\n]\n" if count else "]\n")
    return count


def _write_file(dataset: DatasetVersion, fmt: str, split: str) -> dict[str, Any]:
    path = dataset_dir(dataset) / export_filename(fmt, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    rows = dataset_export_write(dataset, fmt, split, buffer)
    data = buffer.getvalue().encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)  # never a half-written file left behind
        raise
    return {"rows": rows, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def dataset_exports_write(*, dataset: DatasetVersion) -> DatasetVersion:
    """Write every format and split once (at freeze) and record their fingerprints."""
    exports: dict[str, dict[str, Any]] = {}
    for fmt in EXPORT_FORMATS:
        exports[fmt] = {split: _write_file(dataset, fmt, split) for split in EXPORT_SPLITS}
    # Recorded only when all were written; a later export records any that are missing.
    dataset.exports = exports
    DatasetVersion.objects.filter(pk=dataset.pk).update(exports=exports)
    return dataset


def dataset_export_file(*, dataset: DatasetVersion, fmt: str, split: str) -> Path:
    """The export's file, rewritten from the database if it is missing or was altered. An
    export whose fingerprint was never recorded (its freeze could not write it) is recorded."""
    _check(fmt, split)
    path = dataset_dir(dataset) / export_filename(fmt, split)
    recorded = (dataset.exports or {}).get(fmt, {}).get(split, {})
    if path.is_file() and recorded.get("sha256") == _sha256(path):
        return path
    written = _write_file(dataset, fmt, split)
    if not recorded:
        _record(dataset, fmt, split, written)
    elif recorded.get("sha256") != written["sha256"]:
        raise InvalidInput(
            f"The {fmt}/{split} export of {dataset.name!r} no longer matches its frozen "
            "fingerprint: the rows it was built from were changed outside evalhub."
        )
    return path


def _record(dataset: DatasetVersion, fmt: str, split: str, written: dict[str, Any]) -> None:
    with transaction.atomic():
        current = DatasetVersion.objects.select_for_update().get(pk=dataset.pk)
        exports = dict(current.exports or {})
        exports[fmt] = {**exports.get(fmt, {}), split: written}
        current.exports = exports
        current.save(update_fields=["exports"])
    dataset.exports = exports


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
