"""The judge's (or augmenter's) backend and the calls made to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evalhub.generation.base import Backend, GenerationRequest, GenerationResult, SamplingParams
from evalhub.models import ModelVersion
from evalhub.services.errors import InvalidInput

Progress = Callable[[int, int, str], None]
Log = Callable[[str], None]


@dataclass(frozen=True)
class Caller:
    """A backend and the served name of one model version on it."""

    backend: Backend
    model: str

    def ask(
        self, prompts: Sequence[tuple[str, str]], params: SamplingParams
    ) -> dict[str, GenerationResult]:
        """request id -> result, for (request id, user message) pairs, in one batch."""
        requests = [
            GenerationRequest(
                request_id=key,
                messages=({"role": "user", "content": text},),
                model=self.model,
                params=params,
            )
            for key, text in prompts
        ]
        return {result.request_id: result for result in self.backend.generate(requests)}


def caller_for(model_version: ModelVersion, backend: Backend | None = None) -> Caller:
    """The backend serving ``model_version`` (``backend`` given: that one, e.g. a test fake)."""
    if model_version.backend == ModelVersion.Backend.IMPORTED and backend is None:
        raise InvalidInput(
            f"{model_version.name!r} is an imported model: it cannot be asked anything. Register "
            "the judge with an endpoint (python manage.py register_model NAME --backend openai "
            "--endpoint URL).",
            code="imported_model",
        )
    if backend is not None:
        return Caller(backend, model_version.served_name or model_version.name)
    from evalhub.services.generation import model_version_backend

    served, model = model_version_backend(model_version)
    return Caller(served, model)


def batch_size() -> int:
    """Items asked per step: twice the generation concurrency, so that each step keeps every
    connection busy (a pair is two requests) while progress and cancel are seen often."""
    from django.conf import settings

    return max(1, 2 * int(settings.EVALHUB_GENERATION_CONCURRENCY))


def first_text(result: GenerationResult | None) -> str:
    if result is None or not result.ok or not result.completions:
        return ""
    return result.completions[0].text
