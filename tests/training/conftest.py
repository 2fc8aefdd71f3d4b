"""Pure training tests: no database. The ml ones share one tiny model per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from tests.training.tiny import tiny_models

    return tiny_models(tmp_path_factory.getbasetemp() / "tiny-demo-models")
