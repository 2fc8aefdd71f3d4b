"""Fixtures for the generation tests: loopback servers and backends that clean up after themselves."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evalhub.generation.openai_compat import OpenAICompatBackend
from tests.generation.openai_server import LoopbackOpenAIServer

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def loopback_server() -> Iterator[Callable[..., LoopbackOpenAIServer]]:
    """Start loopback servers: ``loopback_server(models=[...], latency_s=..., fail_first=...)``."""
    started: list[LoopbackOpenAIServer] = []

    def start(**kwargs: Any) -> LoopbackOpenAIServer:
        server = LoopbackOpenAIServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def openai_backend() -> Iterator[Callable[..., OpenAICompatBackend]]:
    """Make backends with fast retries (``backoff_s=0.01``) unless told otherwise."""
    made: list[OpenAICompatBackend] = []

    def make(base_url: str, **kwargs: Any) -> OpenAICompatBackend:
        kwargs.setdefault("backoff_s", 0.01)
        kwargs.setdefault("backoff_max_s", 0.05)
        kwargs.setdefault("timeout_s", 10.0)
        backend = OpenAICompatBackend(base_url, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
