"""The loopback OpenAI-compatible server for tests (the class lives in the package so that
benchmarks can import it too): ``with LoopbackOpenAIServer(models=[...]) as server: ...``.

The ``loopback_server`` fixture in ``tests/generation/conftest.py`` starts one per test.
"""

from evalhub.generation.testing_server import LoopbackOpenAIServer

__all__ = ["LoopbackOpenAIServer"]
