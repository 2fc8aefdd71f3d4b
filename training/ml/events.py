"""Progress events: one JSON object per stdout line, and the metrics file of a run.

Every event has ``"event"``: ``start`` (total steps, the step it starts from), ``progress`` (one
per logging step: step, total_steps, loss, reward_accuracy, reward_margin, eta_s, ...), ``eval``,
``checkpoint`` (a resumable checkpoint was written), ``done`` (the adapter is written and loads)
and ``error``. Anything else a library prints is not JSON with an ``event`` key; readers treat it
as log text. The same ``progress`` rows go to ``metrics.jsonl`` in the run folder.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

Emit = Callable[[dict[str, Any]], None]

# TRL's metric names, per trainer, mapped onto the names the product shows.
METRIC_ALIASES = {
    "rewards/accuracies": "reward_accuracy",  # DPOTrainer
    "rewards/margins": "reward_margin",
    "accuracy": "reward_accuracy",  # RewardTrainer
    "margin": "reward_margin",
    "mean_token_accuracy": "token_accuracy",  # SFTTrainer (and DPO's chosen tokens)
}


def print_event(event: dict[str, Any]) -> None:
    """Write one event as a JSON line on stdout, flushed (the job reads it live)."""
    sys.stdout.write(json.dumps(event, default=_plain, allow_nan=False) + "\n")
    sys.stdout.flush()


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on a line of output, or None when the line is plain log text."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "event" in value else None


def metrics_row(logs: dict[str, Any], *, step: int, total_steps: int, epoch: float | None) -> dict:
    """A progress row from a trainer's log dict: the product's names first, then TRL's own."""
    row: dict[str, Any] = {"step": step, "total_steps": total_steps, "epoch": epoch}
    for key, value in logs.items():
        if isinstance(value, int | float) and math.isfinite(value):
            row[METRIC_ALIASES.get(key, key)] = float(value)
            if key in METRIC_ALIASES:
                row[key] = float(value)
    return row


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
