"""Generation backends (pure; imports no Django).

One interface (:mod:`.base`) and three implementations, each in its own module so that importing
this package stays cheap:

- :mod:`.openai_compat` ``OpenAICompatBackend``: vLLM's OpenAI-compatible HTTP server
  (production; LoRA adapters are served names);
- :mod:`.local` ``LocalBackend``: transformers + peft in this process (CPU, or CUDA when there is
  one); torch is imported only when it first generates;
- :mod:`.fake` ``FakeBackend``: deterministic answers for tests.

:mod:`.demo_models` builds the tiny local demo models; :mod:`.testing_server` is a loopback
OpenAI-compatible server for tests and benchmarks.
"""

from evalhub.generation.base import (
    Backend,
    Completion,
    GenerationError,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    build_messages,
)

__all__ = [
    "Backend",
    "Completion",
    "GenerationError",
    "GenerationRequest",
    "GenerationResult",
    "SamplingParams",
    "build_messages",
]
