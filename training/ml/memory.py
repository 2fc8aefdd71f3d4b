"""How much accelerator memory a run needs: full fine-tuning, LoRA and QLoRA of one base.

Arithmetic only (no torch): the parameter count comes from the safetensors headers of the model
folder (exact) or, when there are no weights yet, from ``config.json`` (decoder-only
Llama/Qwen/Mistral-style shapes). The terms, per parameter (mixed precision, AdamW):

- full fine-tuning: bf16 weights (2 B) + bf16 gradients (2 B) + fp32 master copy (4 B) + Adam's
  two fp32 moments (8 B) = 16 B;
- LoRA: frozen bf16 base (2 B) + 16 B per adapter parameter;
- QLoRA: the linear layers in 4-bit NF4 with double-quantised scales (about 4.13 bits = 0.516 B),
  embeddings and norms in bf16, + 16 B per adapter parameter;
- activations (Korthikanti et al. 2022, flash attention): about 34 x tokens x hidden bytes per
  layer without activation checkpointing, 2 x tokens x hidden per layer (+ one layer's 34) with
  it, plus fp32 logits (4 x tokens x vocab). DPO and reward rows hold two sequences each.

The total leaves out the CUDA context and allocator fragmentation (add 1-2 GB).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 1024**3
NF4_BYTES = 4.127 / 8  # 4-bit weights + double-quantised absmax constants (QLoRA paper)
BYTES_FULL = 2 + 2 + 4 + 8
BYTES_TRAINABLE = 16
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1}


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about a decoder-only transformer."""

    n_params: int
    hidden_size: int
    num_layers: int
    vocab_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied_embeddings: bool
    params_exact: bool = False
    """True when counted from the weights, False when computed from the config."""

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each projection in one layer."""
        h, q, kv, i = (
            self.hidden_size,
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
            self.intermediate_size,
        )
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    def lora_params(self, r: int, target_modules: tuple[str, ...]) -> int:
        shapes = self.linear_shapes()
        per_layer = sum(r * (shapes[m][0] + shapes[m][1]) for m in target_modules if m in shapes)
        return per_layer * self.num_layers


@dataclass(frozen=True)
class MemoryEstimate:
    mode: str  # full | lora | qlora
    weights_bytes: float
    trainable_params: int
    gradients_and_optimizer_bytes: float
    activations_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.gradients_and_optimizer_bytes + self.activations_bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "trainable_params": self.trainable_params,
            "weights_gib": round(self.weights_bytes / GIB, 3),
            "gradients_and_optimizer_gib": round(self.gradients_and_optimizer_bytes / GIB, 3),
            "activations_gib": round(self.activations_bytes / GIB, 3),
            "total_gib": round(self.total_bytes / GIB, 3),
        }


def shape_from_config(config: dict[str, Any], n_params: int | None = None) -> ModelShape:
    """A ModelShape from a transformers ``config.json`` dict (text config of the model)."""
    config = config.get("text_config", config)
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        vocab = int(config["vocab_size"])
        heads = int(config["num_attention_heads"])
    except KeyError as exc:
        raise ValueError(
            f"config.json lacks {exc.args[0]!r}: not a decoder-only LM config"
        ) from exc
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    intermediate = int(config.get("intermediate_size") or 4 * hidden)
    tied = bool(config.get("tie_word_embeddings", False))
    shape = ModelShape(0, hidden, layers, vocab, intermediate, heads, kv_heads, head_dim, tied)
    if n_params is not None:
        return _with_params(shape, n_params, exact=True)
    per_layer = sum(i * o for i, o in shape.linear_shapes().values()) + 2 * hidden
    return _with_params(shape, per_layer * layers + shape.embedding_params + hidden, exact=False)


def _with_params(shape: ModelShape, n_params: int, *, exact: bool) -> ModelShape:
    values = {**shape.__dict__, "n_params": int(n_params), "params_exact": exact}
    return ModelShape(**values)


def count_safetensors_params(folder: str | Path) -> int | None:
    """Parameters stored in the folder's ``*.safetensors`` files (headers only); None if none."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in tensor["shape"]:
                count *= int(dim)
            total += count
    return total


def read_model_shape(folder: str | Path) -> ModelShape:
    """The shape of the model in ``folder`` (its config.json and, if present, its weights)."""
    config_path = Path(folder) / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: not a transformers model folder")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return shape_from_config(config, count_safetensors_params(folder))


def activation_bytes(
    shape: ModelShape,
    *,
    batch_size: int,
    seq_len: int,
    sequences_per_row: int,
    gradient_checkpointing: bool,
) -> float:
    tokens = batch_size * sequences_per_row * seq_len
    per_layer_full = 34.0 * tokens * shape.hidden_size
    if gradient_checkpointing:
        layers = 2.0 * tokens * shape.hidden_size * shape.num_layers + per_layer_full
    else:
        layers = per_layer_full * shape.num_layers
    return layers + 4.0 * tokens * shape.vocab_size


def estimate_memory(
    shape: ModelShape,
    *,
    batch_size: int = 8,
    seq_len: int = 1024,
    lora_r: int = 16,
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    sequences_per_row: int = 2,
    gradient_checkpointing: bool = True,
) -> list[MemoryEstimate]:
    """Full fine-tuning, LoRA and QLoRA estimates for one training configuration.

    ``sequences_per_row`` is 2 for DPO and reward rows (chosen and rejected), 1 for SFT.
    """
    if batch_size < 1 or seq_len < 1 or lora_r < 1 or sequences_per_row < 1:
        raise ValueError("batch_size, seq_len, lora_r and sequences_per_row must be >= 1")
    activations = activation_bytes(
        shape,
        batch_size=batch_size,
        seq_len=seq_len,
        sequences_per_row=sequences_per_row,
        gradient_checkpointing=gradient_checkpointing,
    )
    lora = shape.lora_params(lora_r, tuple(target_modules))
    linear = sum(i * o for i, o in shape.linear_shapes().values()) * shape.num_layers
    linear = min(linear, shape.n_params)
    return [
        MemoryEstimate(
            "full",
            2.0 * shape.n_params,
            shape.n_params,
            (BYTES_FULL - 2) * shape.n_params,
            activations,
        ),
        MemoryEstimate("lora", 2.0 * shape.n_params, lora, BYTES_TRAINABLE * lora, activations),
        MemoryEstimate(
            "qlora",
            NF4_BYTES * linear + 2.0 * (shape.n_params - linear),
            lora,
            BYTES_TRAINABLE * lora,
            activations,
        ),
    ]
