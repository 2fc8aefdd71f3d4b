"""evalhub.stats is a pure core: numpy, scipy and the standard library only, never Django."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import evalhub.stats

PACKAGE = Path(evalhub.stats.__file__).parent
REPO = PACKAGE.parents[1]
ALLOWED_ROOTS = {
    "__future__",
    "collections",
    "dataclasses",
    "fractions",
    "math",
    "typing",
    "numpy",
    "scipy",
}


def test_importing_stats_does_not_import_django() -> None:
    code = "import evalhub.stats, sys; assert 'django' not in sys.modules, 'django imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_modules_import_only_numpy_scipy_stdlib_and_each_other() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root in ALLOWED_ROOTS or name.startswith("evalhub.stats"), (
                    f"{path.name} imports {name}"
                )


def test_public_api_is_exported() -> None:
    assert evalhub.stats.__doc__ and "no Django" in evalhub.stats.__doc__
    for name in evalhub.stats.__all__:
        assert hasattr(evalhub.stats, name), name
