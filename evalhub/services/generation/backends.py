"""The backend that serves a model version (see :mod:`evalhub.services.generation`).

Backends are cached per process: one OpenAI-compatible client per endpoint (and settings), one
local backend per base folder (the base loads once; adapters are added on top).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from evalhub.generation.base import Backend
from evalhub.models import ModelVersion
from evalhub.services.errors import InvalidInput

_backends: dict[tuple[Any, ...], Any] = {}
_backends_lock = threading.Lock()


def _is_adapter_folder(path: str) -> bool:
    return bool(path) and (Path(path) / "adapter_config.json").is_file()


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    with _backends_lock:
        if key not in _backends:
            _backends[key] = make()
        return _backends[key]


def _openai_backend(model_version: ModelVersion) -> tuple[Backend, str]:
    from evalhub.generation.openai_compat import OpenAICompatBackend

    if not model_version.endpoint:
        raise InvalidInput(f"Model version {model_version.name!r} has no endpoint to call.")
    concurrency = int(settings.EVALHUB_GENERATION_CONCURRENCY)
    timeout = float(settings.EVALHUB_GENERATION_TIMEOUT)
    api_key = getattr(settings, "EVALHUB_GENERATION_API_KEY", "") or "EMPTY"
    key = ("openai", model_version.endpoint.rstrip("/"), concurrency, timeout, api_key)
    backend = _cached(
        key,
        lambda: OpenAICompatBackend(
            model_version.endpoint, api_key=api_key, max_concurrency=concurrency, timeout_s=timeout
        ),
    )
    return backend, model_version.served_name or model_version.name


def _local_base_backend(base: ModelVersion) -> Any:
    from evalhub.generation.local import LocalBackend

    folder = Path(base.path)
    if not folder.is_dir():
        raise InvalidInput(
            f"The weights of {base.name!r} are not on this machine: {folder} is not a folder."
        )
    key = ("local", str(folder.resolve()))
    return _cached(key, lambda: LocalBackend(folder, base_name=base.name))


def _local_backend(model_version: ModelVersion) -> tuple[Backend, str]:
    parent = model_version.parent
    if _is_adapter_folder(model_version.path):
        if parent is None or parent.backend != ModelVersion.Backend.LOCAL:
            raise InvalidInput(
                f"{model_version.name!r} is a LoRA adapter ({model_version.path}); set its parent "
                "to the local base model it was trained on."
            )
        backend = _local_base_backend(parent)
        if model_version.name not in backend.list_models():
            backend.add_adapter(model_version.name, model_version.path)
        return backend, model_version.name
    backend = _local_base_backend(model_version)
    return backend, backend.base_name


def model_version_backend(model_version: ModelVersion) -> tuple[Backend, str]:
    """The backend that serves ``model_version`` and the ``model`` name to ask it for.

    Backends are cached per process (see the module docstring); don't close them.
    """
    match model_version.backend:
        case ModelVersion.Backend.OPENAI:
            return _openai_backend(model_version)
        case ModelVersion.Backend.LOCAL:
            return _local_backend(model_version)
        case _:
            raise InvalidInput(
                f"{model_version.name!r} is an imported model: outputs of imported models must "
                "be imported (python manage.py import_outputs), not generated.",
                code="imported_model",
            )


def backends_close_all() -> None:
    """Close and forget every cached backend (tests; a worker shutting down)."""
    with _backends_lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        close = getattr(backend, "close", None)
        if close is not None:
            close()
