"""The tiny demo model (evalhub.generation.demo_models, a short build) and training rows from
the bundled customer-service prompts: warm answers preferred over curt ones."""

from __future__ import annotations

import json
from pathlib import Path

from evalhub.generation.base import build_messages
from evalhub.generation.corpus import load_demo_prompts
from evalhub.generation.demo_models import DEMO_ADAPTER_NAME, DemoBuildConfig, build_demo_models

# The smallest build that still answers in words (about 15 s with one thread).
TINY = DemoBuildConfig(base_steps=60, adapter_steps=20, batch_size=16, base_lr=5e-3)


def tiny_models(root: Path) -> dict[str, Path]:
    """Build once per test session under ``root`` (reused when already there)."""
    if not (root / "manifest.json").is_file():
        import torch

        torch.set_num_threads(1)
        build_demo_models(root, seed=0, config=TINY)
    return {"base": root / "base", "adapter": root / "adapters" / DEMO_ADAPTER_NAME}


def preference_rows(n: int, *, offset: int = 0) -> list[dict]:
    rows = []
    for prompt in load_demo_prompts()[offset : offset + n]:
        messages = list(build_messages(prompt.system, (), prompt.instruction, prompt.input))
        rows.append(
            {
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": prompt.better_answer}],
                "rejected": [{"role": "assistant", "content": prompt.baseline_answer}],
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
