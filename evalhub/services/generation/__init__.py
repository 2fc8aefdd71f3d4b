"""Generation for campaigns: the backend that serves a model version, and the missing outputs.

Backends (:func:`model_version_backend`):

- ``openai``: an :class:`OpenAICompatBackend` on the version's ``endpoint`` (vLLM), the request's
  ``model`` being its ``served_name`` (or its name). One client per endpoint and process, so a
  base and its LoRA adapters served by one vLLM share one concurrency limit
  (``EVALHUB_GENERATION_CONCURRENCY``) and timeout (``EVALHUB_GENERATION_TIMEOUT``).
- ``local``: a :class:`LocalBackend` on the base's folder, loaded once per process and cached by
  folder. A version whose ``path`` is a LoRA adapter folder (it holds ``adapter_config.json``)
  and whose parent is a local base is served by its base's backend with that adapter switched on.
- ``imported``: nothing can generate; its outputs must be imported.

Sampling parameters of a run (the campaign-level choice):

- ``sampling="shared"`` (default): the **baseline's** generation defaults (temperature, top_p,
  max_tokens, seed) for both sides, so both models answer under identical conditions and a
  difference in the votes is a difference between the models.
- ``sampling="own"``: each version its own defaults.
- ``params_override`` (any of temperature, top_p, max_tokens, seed) applies on top, to both sides.

What is sent is stored with each output (``Output.params``). With a seed, sample index ``k`` is
sent ``seed + k``: samples of one prompt differ and stay reproducible.

An output counts as present when the version has one for the prompt at that sample index,
whatever its parameters or origin: generation never regenerates what exists (it is resumable),
and ``sample_index`` is how to ask for more samples.
"""

from evalhub.services.generation.backends import backends_close_all, model_version_backend
from evalhub.services.generation.campaign import (
    TASK_PATH,
    campaign_generate,
    campaign_generate_enqueue,
)
from evalhub.services.generation.params import OVERRIDABLE, SAMPLING_CHOICES, generation_params
from evalhub.services.generation.run import GenerationFailure, GenerationSummary

__all__ = [
    "OVERRIDABLE",
    "SAMPLING_CHOICES",
    "TASK_PATH",
    "GenerationFailure",
    "GenerationSummary",
    "backends_close_all",
    "campaign_generate",
    "campaign_generate_enqueue",
    "generation_params",
    "model_version_backend",
]
