"""Dependencies flow one way (assist -> labeling -> training -> feedback -> evalhub) and the pure cores import no Django.

Checked statically over every module's import statements, so a violation anywhere fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ["evalhub/stats", "evalhub/generation", "training/ml"]
HEAVY = {"torch", "transformers", "peft", "trl", "datasets", "accelerate"}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at_top_level) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def _modules(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def test_evalhub_imports_neither_feedback_nor_training():
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules("evalhub")
        for name, _ in _imports(path)
        if name.split(".")[0] in {"feedback", "training"}
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("evalhub", {"labeling", "assist"}),
        ("feedback", {"labeling", "assist"}),
        ("training", {"labeling", "assist"}),
        ("labeling", {"assist"}),
    ],
)
def test_data_platform_apps_sit_on_top(folder, forbidden):
    """labeling reads evalhub and training; assist reads labeling too; nothing reads them back."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(folder)
        for name, _ in _imports(path)
        if name.split(".")[0] in forbidden
    ]
    assert offenders == []


def test_feedback_does_not_import_training():
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules("feedback")
        for name, _ in _imports(path)
        if name.split(".")[0] == "training"
    ]
    assert offenders == []


def _forbidden_in_pure(folder: str, name: str) -> bool:
    own = folder.replace("/", ".")
    root = name.split(".")[0]
    if root in {"django", "rest_framework", "feedback"}:
        return True
    return root in {"evalhub", "training"} and not (name == own or name.startswith(own + "."))


@pytest.mark.parametrize("folder", PURE)
def test_pure_packages_import_no_django(folder):
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(folder)
        for name, _ in _imports(path)
        if _forbidden_in_pure(folder, name)
    ]
    assert offenders == []


def test_heavy_ml_libraries_are_imported_lazily_outside_training_ml():
    """The web process never loads torch: outside training/ml only function-level imports."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ["evalhub", "feedback", "training", "labeling", "assist"]
        for path in _modules(folder)
        if "training/ml" not in str(path)
        for name, top in _imports(path)
        if top and name.split(".")[0] in HEAVY
    ]
    assert offenders == []
