"""Memory estimates (arithmetic) and the progress-event protocol."""

from __future__ import annotations

import json
import struct

import pytest

from training.ml.events import metrics_row, parse_event
from training.ml.memory import (
    GIB,
    count_safetensors_params,
    estimate_memory,
    read_model_shape,
    shape_from_config,
)

QWEN_05B = {  # Qwen2.5-0.5B's config.json (the sizes that matter)
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "tie_word_embeddings": True,
}  # fmt: skip


def test_parameter_count_from_config_matches_the_published_size():
    shape = shape_from_config(QWEN_05B)
    assert 0.48e9 < shape.n_params < 0.50e9  # 494 M published (q/k/v biases left out)
    assert not shape.params_exact


def test_estimates_rank_full_over_lora_over_qlora():
    shape = shape_from_config(QWEN_05B)
    full, lora, qlora = estimate_memory(shape, batch_size=4, seq_len=512, lora_r=16)
    assert full.total_bytes > lora.total_bytes > qlora.total_bytes
    assert full.weights_bytes + full.gradients_and_optimizer_bytes == pytest.approx(
        16 * shape.n_params
    )
    assert lora.trainable_params == 24 * 16 * (896 + 896 + 896 + 128 + 896 + 128 + 896 + 896)
    assert qlora.weights_bytes < lora.weights_bytes / 2
    checkpointed = estimate_memory(shape, batch_size=4, seq_len=512, gradient_checkpointing=True)
    plain = estimate_memory(shape, batch_size=4, seq_len=512, gradient_checkpointing=False)
    assert checkpointed[1].activations_bytes < plain[1].activations_bytes
    assert 1 < full.total_bytes / GIB < 40


def test_exact_count_from_safetensors_header(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},
              "b": {"dtype": "F32", "shape": [5], "data_offsets": [48, 68]},
              "__metadata__": {"format": "pt"}}  # fmt: skip
    blob = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + bytes(68))
    (tmp_path / "config.json").write_text(json.dumps(QWEN_05B))
    assert count_safetensors_params(tmp_path) == 17
    shape = read_model_shape(tmp_path)
    assert shape.n_params == 17 and shape.params_exact


def test_events_are_json_lines_and_other_text_is_log():
    assert parse_event('{"event": "progress", "step": 3}') == {"event": "progress", "step": 3}
    assert parse_event("{'loss': 0.5}") is None  # a printed dict is log text
    assert parse_event("Loading weights: 100%") is None
    assert parse_event('{"no_event": 1}') is None


def test_metrics_row_uses_product_names_and_drops_non_finite():
    row = metrics_row(
        {"loss": 0.5, "rewards/accuracies": 0.75, "margin": 0.2, "grad_norm": float("nan")},
        step=4, total_steps=10, epoch=0.4,
    )  # fmt: skip
    assert row["reward_accuracy"] == 0.75 and row["rewards/accuracies"] == 0.75
    assert row["reward_margin"] == 0.2 and "grad_norm" not in row
