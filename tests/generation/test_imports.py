"""evalhub.generation is pure: it imports no Django, and torch only when the local backend runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "evalhub.generation",
    "evalhub.generation.base",
    "evalhub.generation.fake",
    "evalhub.generation.openai_compat",
    "evalhub.generation.testing_server",
    "evalhub.generation.local",
    "evalhub.generation.demo_models",
    "evalhub.generation.corpus",
]
LAZY = {"torch", "transformers", "peft", "tokenizers", "trl"}


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("module", MODULES)
def test_imports_no_django_and_no_torch(module):
    loaded = imported_after(module)
    assert "django" not in loaded
    assert not loaded & LAZY, f"{module} loads {sorted(loaded & LAZY)} at import"
