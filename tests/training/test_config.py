"""Run configs: one per method, defaults, validation messages, JSON round trip."""

from __future__ import annotations

import pytest

from training.ml.config import (
    ConfigError,
    DPORunConfig,
    RewardRunConfig,
    SFTRunConfig,
    config_from_dict,
    config_to_dict,
)

PATHS = {"model_path": "/m", "output_dir": "/o", "train_file": "/t.jsonl"}


def test_defaults_come_from_trl_and_the_paper():
    dpo = DPORunConfig(**PATHS)
    assert (dpo.beta, dpo.learning_rate, dpo.loss_type) == (0.1, 1e-6, ("sigmoid",))
    assert SFTRunConfig(**PATHS).learning_rate == 2e-5
    assert RewardRunConfig(**PATHS).learning_rate == 1e-4
    assert dpo.lora.r == 16 and "q_proj" in dpo.lora.target_modules


def test_round_trip_through_json_dict():
    config = config_from_dict(
        {"method": "dpo", **PATHS, "beta": 0.2, "loss_type": ["sigmoid", "sft"],
         "lora": {"r": 4, "alpha": 8}}
    )  # fmt: skip
    assert isinstance(config, DPORunConfig) and config.lora.r == 4
    data = config_to_dict(config)
    assert data["method"] == "dpo" and data["loss_type"] == ["sigmoid", "sft"]
    assert config_from_dict(data) == config


@pytest.mark.parametrize(
    "change, message",
    [
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"beta": -1}, "beta must be > 0"),
        ({"loss_type": ["nope"]}, "Unknown DPO loss_type"),
        ({"warmup_ratio": 1.5}, "warmup_ratio must be in"),
        ({"num_train_epochs": 0, "max_steps": -1}, "would train nothing"),
        ({"qlora": True, "device": "cpu"}, "qlora needs a CUDA GPU"),
        ({"lora": {"r": 0}}, "lora.r must be >= 1"),
        ({"bogus": 1}, "Unknown dpo setting"),
        ({"loss_weights": [1.0, 2.0]}, "one weight per loss_type"),
    ],
)
def test_validation_says_what_to_change(change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"method": "dpo", **PATHS, **change})


def test_unknown_method_and_missing_paths():
    with pytest.raises(ConfigError, match="Unknown method"):
        config_from_dict({"method": "ppo", **PATHS})
    with pytest.raises(ConfigError, match="Incomplete"):
        config_from_dict({"method": "sft", "model_path": "/m"})
