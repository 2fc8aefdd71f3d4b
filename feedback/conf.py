"""feedback's settings, each read from Django settings when set there, else the environment.

- ``FEEDBACK_WORKBENCH_TIMEOUT_S`` (default 8): hard limit on generating the 4 suggestions
  (both models are asked at once; past it the agent is told generation is down).
- ``FEEDBACK_WORKBENCH_INLINE_WAIT_S`` (default 1.5): how long opening a conversation waits for
  its suggestions to put them in the page itself; slower ones arrive through the page's script.
- ``FEEDBACK_WORKBENCH_CLAIM_MINUTES`` (default 30): how long an opened conversation stays with
  the agent who opened it before another agent may take it over.
- ``FEEDBACK_ALLOWED_ORIGINS`` (comma-separated, default none): web origins whose pages may send
  thumbs straight from the browser (CORS on ``POST /api/v1/feedback/thumbs``).
- The thumbs API rate per token is the ``feedback`` entry of
  ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (env ``FEEDBACK_THROTTLE_RATE``, e.g. ``600/min``).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings


def _setting(name: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    if value is not None:
        return value
    return os.environ.get(name, default)


def workbench_timeout_s() -> float:
    return float(_setting("FEEDBACK_WORKBENCH_TIMEOUT_S", 8.0))


def workbench_inline_wait_s() -> float:
    return float(_setting("FEEDBACK_WORKBENCH_INLINE_WAIT_S", 1.5))


def workbench_claim_minutes() -> float:
    return float(_setting("FEEDBACK_WORKBENCH_CLAIM_MINUTES", 30.0))


def allowed_origins() -> frozenset[str]:
    value = _setting("FEEDBACK_ALLOWED_ORIGINS", "")
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(item.strip().rstrip("/") for item in items if item.strip())
