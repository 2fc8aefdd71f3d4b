"""The bundled customer-service prompt set (``evalhub/data/customer_service_prompts.jsonl``).

Each row has ``external_id``, ``instruction``, optional ``input`` and ``system``, ``labels``
(among refund, shipping, account, complaint, billing, product) and two reference answers: a curt
``baseline_answer`` and a warm ``better_answer``. The file is written by
``python -m evalhub.data.make_prompts`` and committed; the demo models are trained on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from evalhub.generation.base import build_messages

DEMO_LABELS = ("refund", "shipping", "account", "complaint", "billing", "product")
PROMPTS_FILE = "customer_service_prompts.jsonl"


@dataclass(frozen=True)
class DemoPrompt:
    external_id: str
    instruction: str
    labels: tuple[str, ...]
    baseline_answer: str
    better_answer: str
    input: str = ""
    system: str = ""

    def messages(self) -> tuple[dict[str, str], ...]:
        return build_messages(self.system, (), self.instruction, self.input)


def demo_prompts_path() -> Path:
    """The bundled JSONL file (importable as prompts: Alpaca fields plus labels)."""
    return Path(str(resources.files("evalhub.data").joinpath(PROMPTS_FILE)))


def load_demo_prompts() -> list[DemoPrompt]:
    rows = []
    with demo_prompts_path().open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                row["labels"] = tuple(row["labels"])
                rows.append(DemoPrompt(**row))
    return rows


def corpus_lines(prompts: list[DemoPrompt]) -> list[str]:
    """Every distinct text in the prompt set (the tokenizer is trained on these)."""
    texts: dict[str, None] = {}
    for prompt in prompts:
        for text in (
            prompt.system,
            prompt.instruction,
            prompt.input,
            prompt.baseline_answer,
            prompt.better_answer,
        ):
            if text:
                texts[text] = None
    return list(texts)
