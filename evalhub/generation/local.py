"""Local backend: transformers + peft in this process, on CPU (or CUDA when there is one).

One base model is loaded once from a local folder (``local_files_only=True``); LoRA adapters are
loaded by name from their folders onto that same copy, and each batch switches to the adapter it
needs (``set_adapter``) or turns adapters off for the base (``disable_adapter()``). A request's
``model`` is the base's registered name or an adapter's name.

Batching and reproducibility:

- Greedy requests (temperature 0) to the same model with the same ``max_tokens`` are batched
  (``max_batch_size`` at a time) with left padding; their text does not depend on the batch.
  ``n`` greedy samples are the same text, generated once.
- Sampled requests run one prompt at a time, its ``n`` samples together, after
  ``torch.manual_seed(seed)``: the same seed gives the same text whatever else is in the call.
  An unseeded request draws a fresh seed.
- ``stop`` strings are applied to the decoded text; ``finish_reason`` is "stop" when the model
  ended its answer or a stop string cut it, "length" when it hit ``max_tokens``.

``latency_ms`` of a batched request is the wall time of its whole batch. torch, transformers and
peft are imported on first use (:meth:`LocalBackend.load`), never at import time.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evalhub.generation.base import (
    Completion,
    GenerationError,
    GenerationRequest,
    GenerationResult,
    OnResult,
    ensure_unique_ids,
)


class LocalBackend:
    """A :class:`~evalhub.generation.base.Backend` running a local base model and its adapters.

    ``num_threads`` sets torch's intra-op threads (process-wide) when the model loads;
    ``device`` defaults to "cuda" when available, else "cpu"; ``dtype`` "auto" means float32 on
    CPU and bfloat16 on CUDA.
    """

    def __init__(
        self,
        base_path: str | Path,
        *,
        base_name: str = "base",
        adapters: Mapping[str, str | Path] | None = None,
        device: str | None = None,
        dtype: str = "auto",
        num_threads: int | None = None,
        max_batch_size: int = 16,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.base_path = Path(base_path)
        self.base_name = base_name
        self.endpoint = f"local:{self.base_path}"
        self.device = device
        self.dtype = dtype
        self.num_threads = num_threads
        self.max_batch_size = max_batch_size
        self._adapter_paths: dict[str, Path] = {}
        self._loaded_adapters: set[str] = set()
        self._adapter_errors: dict[str, str] = {}  # a broken adapter fails only its requests
        self._lock = threading.RLock()
        self._model: Any = None
        self._tokenizer: Any = None
        for name, path in (adapters or {}).items():
            self.add_adapter(name, path)

    # -- models ----------------------------------------------------------------------------

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Register a LoRA adapter folder under ``name``.

        If the base is already loaded the adapter loads now, and a broken one raises
        :class:`GenerationError` (its requests then fail with the same message).
        """
        if name == self.base_name:
            raise ValueError(f"adapter name {name!r} is the base model's name")
        with self._lock:
            if self._adapter_paths.get(name) == Path(path):
                return
            if name in self._loaded_adapters:
                raise ValueError(f"adapter {name!r} is already loaded from another folder")
            self._adapter_paths[name] = Path(path)
            if self._model is not None:
                self._load_adapter(name)
                if name in self._adapter_errors:
                    raise GenerationError(
                        self._adapter_errors[name], endpoint=self.endpoint, model=name
                    )

    def list_models(self) -> list[str]:
        return [self.base_name, *self._adapter_paths]

    def load(self) -> None:
        """Load the tokenizer, the base model and every registered adapter (idempotent)."""
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.num_threads:
                torch.set_num_threads(self.num_threads)
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            dtype = self._torch_dtype(torch, device)
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.base_path, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(
                    self.base_path, local_files_only=True, dtype=dtype
                )
            except (OSError, ValueError) as exc:
                raise GenerationError(
                    f"cannot load the base model: {exc}",
                    endpoint=self.endpoint,
                    model=self.base_name,
                ) from exc
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            self.device = device
            self._tokenizer = tokenizer
            self._model = model.to(device).eval()
            for name in self._adapter_paths:
                self._load_adapter(name)

    def _torch_dtype(self, torch: Any, device: str) -> Any:
        if self.dtype != "auto":
            return getattr(torch, self.dtype)
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32

    def _load_adapter(self, name: str) -> None:
        from peft import PeftModel

        path = self._adapter_paths[name]
        try:
            if isinstance(self._model, PeftModel):
                self._model.load_adapter(path, adapter_name=name)
            else:
                self._model = PeftModel.from_pretrained(self._model, path, adapter_name=name)
        except Exception as exc:  # missing folder, wrong base, bad config: fail its requests only
            self._adapter_errors[name] = f"cannot load the adapter from {path}: {exc}"
            return
        self._adapter_errors.pop(name, None)
        self._model.eval()
        self._loaded_adapters.add(name)

    @contextlib.contextmanager
    def _serving(self, model_name: str) -> Iterator[None]:
        """Switch the one loaded model to ``model_name``: an adapter, or the bare base."""
        if model_name != self.base_name:
            self._model.set_adapter(model_name)
            yield
        elif self._loaded_adapters:
            with self._model.disable_adapter():
                yield
        else:
            yield

    # -- generation ------------------------------------------------------------------------

    def generate(
        self, requests: Sequence[GenerationRequest], *, on_result: OnResult | None = None
    ) -> list[GenerationResult]:
        ensure_unique_ids(requests)
        results: dict[str, GenerationResult] = {}

        def record(batch_results: Sequence[GenerationResult]) -> None:
            for result in batch_results:
                results[result.request_id] = result
                if on_result is not None:
                    on_result(result)

        with self._lock:
            known = set(self.list_models())
            record([self._unknown_model(r) for r in requests if r.model not in known])
            runnable = [r for r in requests if r.model in known]
            if runnable:
                try:
                    self.load()
                except GenerationError as exc:
                    record([_failed(r, str(exc), 0.0) for r in runnable])
                    runnable = []
            broken = [r for r in runnable if r.model in self._adapter_errors]
            record([self._broken_adapter(r) for r in broken])
            runnable = [r for r in runnable if r.model not in self._adapter_errors]
            for batch in self._batches(runnable):
                record(self._run_batch(batch))
        return [results[r.request_id] for r in requests]

    def _unknown_model(self, request: GenerationRequest) -> GenerationResult:
        error = GenerationError(
            f"model is not loaded here; available: {', '.join(self.list_models())}",
            endpoint=self.endpoint,
            model=request.model,
        )
        return _failed(request, str(error), 0.0)

    def _broken_adapter(self, request: GenerationRequest) -> GenerationResult:
        error = GenerationError(
            self._adapter_errors[request.model], endpoint=self.endpoint, model=request.model
        )
        return _failed(request, str(error), 0.0)

    def _batches(self, requests: Sequence[GenerationRequest]) -> list[list[GenerationRequest]]:
        """Greedy requests grouped by (model, max_tokens), then each sampled request alone."""
        groups: dict[tuple[str, int], list[GenerationRequest]] = {}
        sampled = []
        for request in requests:
            if request.params.greedy:
                groups.setdefault((request.model, request.params.max_tokens), []).append(request)
            else:
                sampled.append([request])
        batches = []
        for group in groups.values():
            for start in range(0, len(group), self.max_batch_size):
                batches.append(group[start : start + self.max_batch_size])
        return batches + sampled

    def _run_batch(self, batch: Sequence[GenerationRequest]) -> list[GenerationResult]:
        started = time.perf_counter()
        first = batch[0]
        try:
            with self._serving(first.model):
                completions = self._generate_batch(batch)
        except Exception as exc:  # one failed batch must not sink the others
            error = GenerationError(
                f"generation failed: {type(exc).__name__}: {exc}",
                endpoint=self.endpoint,
                model=first.model,
            )
            elapsed = (time.perf_counter() - started) * 1000.0
            return [_failed(r, str(error), elapsed) for r in batch]
        elapsed = (time.perf_counter() - started) * 1000.0
        return [
            GenerationResult(r.request_id, c, elapsed)
            for r, c in zip(batch, completions, strict=True)
        ]

    def _generate_batch(self, batch: Sequence[GenerationRequest]) -> list[tuple[Completion, ...]]:
        import torch

        tokenizer, model = self._tokenizer, self._model
        params = batch[0].params
        texts = [
            tokenizer.apply_chat_template(
                [dict(m) for m in r.messages], tokenize=False, add_generation_prompt=True
            )
            for r in batch
        ]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(self.device)
        prompt_width = encoded["input_ids"].shape[1]
        context = getattr(model.config, "max_position_embeddings", None) or 1 << 30
        room = context - prompt_width
        if room < 1:
            raise ValueError(f"prompt of {prompt_width} tokens fills the {context}-token context")
        kwargs: dict[str, Any] = {
            "max_new_tokens": min(params.max_tokens, room),
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        }
        if params.greedy:
            kwargs["do_sample"] = False
        else:  # one request per sampled batch: its n samples share one seeded draw
            seed = params.seed if params.seed is not None else secrets.randbits(63)
            torch.manual_seed(seed)
            kwargs.update(
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=0,
                num_return_sequences=params.n,
            )
        with torch.inference_mode():
            output = model.generate(**encoded, **kwargs)
        generated = output[:, prompt_width:].tolist()
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        completions = []
        for row, request in enumerate(batch):
            if params.greedy:
                one = self._completion(generated[row], request, int(prompt_tokens[row]))
                completions.append((one,) * request.params.n)
            else:
                completions.append(
                    tuple(
                        self._completion(tokens, request, int(prompt_tokens[row]))
                        for tokens in generated
                    )
                )
        return completions

    def _completion(self, tokens: list[int], request: GenerationRequest, prompt: int) -> Completion:
        eos, pad = self._tokenizer.eos_token_id, self._tokenizer.pad_token_id
        finish_reason = "length"
        if eos in tokens:
            tokens, finish_reason = tokens[: tokens.index(eos) + 1], "stop"
        elif pad != eos:
            while tokens and tokens[-1] == pad:
                tokens = tokens[:-1]
        text = self._tokenizer.decode(tokens, skip_special_tokens=True)
        for stop in request.params.stop:
            cut = text.find(stop)
            if cut != -1:
                text, finish_reason = text[:cut], "stop"
        return Completion(text, finish_reason, prompt, len(tokens))


def _failed(request: GenerationRequest, error: str, elapsed_ms: float) -> GenerationResult:
    return GenerationResult(request.request_id, (), elapsed_ms, error)
