"""Real training on the tiny model, on CPU: DPO, SFT and a reward model with LoRA; a run killed
mid-way leaves no adapter and resumes from its checkpoint; QLoRA is refused without CUDA."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.tiny import preference_rows, write_jsonl
from training.ml.config import ConfigError, config_from_dict, config_to_dict

pytestmark = [
    pytest.mark.ml,
    pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="needs the ml extra"),
]
ROOT = Path(__file__).resolve().parents[2]
QUICK = {
    "learning_rate": 2e-3,
    "per_device_train_batch_size": 4,
    "max_length": 256,
    "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    "num_threads": 1,
    "warmup_ratio": 0.0,
}


def _config(tiny, tmp_path, method="dpo", **extra):
    train = write_jsonl(tmp_path / "train.jsonl", preference_rows(32))
    data = {"method": method, "model_path": str(tiny["base"]), "output_dir": str(tmp_path / "run"),
            "train_file": str(train), **QUICK, **extra}  # fmt: skip
    return config_from_dict(data)


def test_dpo_learns_the_preference_and_writes_a_verified_adapter(tiny, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.ml.train import train

    events = []
    config = _config(tiny, tmp_path, max_steps=12, save_steps=6, loss_type=["sigmoid", "sft"])
    result = train(config, emit=events.append)

    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == list(range(1, 13))
    assert progress[-1]["loss"] < progress[0]["loss"]
    assert progress[0]["reward_accuracy"] == 0.0  # a fresh adapter: policy == reference
    assert sum(e["reward_accuracy"] for e in progress[-4:]) / 4 > 0.7
    assert progress[-1]["reward_margin"] > 0 and progress[-1]["eta_s"] == 0
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [6, 12]
    assert events[-1]["event"] == "done" and result["weight_change_norm"] > 0

    out = Path(config.output_dir)
    frozen = json.loads((out / "config.json").read_text())
    assert frozen["config"] == config_to_dict(config) and "trl" in frozen["versions"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 12
    adapter = out / "adapter"
    assert (adapter / "adapter_config.json").is_file() and not (out / "adapter.partial").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny["base"])
    loaded = PeftModel.from_pretrained(base, adapter)
    lora_b = [p for n, p in loaded.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().max()) > 0 for p in lora_b)  # B starts at zero
    assert train(config, emit=events.append) == result  # a finished folder is not retrained


def test_sft_and_reward_models_train(tiny, tmp_path):
    from training.ml.train import train

    sft_rows = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in preference_rows(16)]
    sft_file = write_jsonl(tmp_path / "sft.jsonl", sft_rows)
    (tmp_path / "a").mkdir()
    sft = config_from_dict(
        {**config_to_dict(_config(tiny, tmp_path / "a", "sft", max_steps=4)),
         "train_file": str(sft_file)}
    )  # fmt: skip
    result = train(sft, emit=lambda e: None)
    assert result["adapter"]["task_type"] == "CAUSAL_LM" and result["last"]["loss"] > 0

    (tmp_path / "b").mkdir()
    reward = _config(tiny, tmp_path / "b", "reward", max_steps=6, learning_rate=5e-3)
    result = train(reward, emit=lambda e: None)
    assert result["adapter"]["task_type"] == "SEQ_CLS"
    assert "reward_accuracy" in result["last"] and result["weight_change_norm"] > 0


def test_continuing_from_an_adapter_uses_it_as_the_reference(tiny, tmp_path):
    from training.ml.train import train

    events = []
    config = _config(tiny, tmp_path, max_steps=2, adapter_path=str(tiny["adapter"]))
    train(config, emit=events.append)
    first = next(e for e in events if e["event"] == "progress")
    # The starting adapter is the reference: at step 1 the policy equals it exactly.
    assert first["rewards/chosen"] == 0.0 and first["reward_margin"] == 0.0


def _start(config_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "training.ml", "train", "--config", str(config_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def test_a_run_killed_mid_way_leaves_no_adapter_and_resumes(tiny, tmp_path):
    config = _config(tiny, tmp_path, max_steps=10, save_steps=3)
    config_path = tmp_path / "request.json"
    config_path.write_text(json.dumps(config_to_dict(config)))
    process = _start(config_path)
    for line in process.stdout:
        if json.loads(line).get("event") == "checkpoint":
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    out = Path(config.output_dir)
    assert process.returncode == -signal.SIGKILL
    assert not (out / "adapter").exists() and not (out / "result.json").exists()

    resumed = _start(config_path)
    events = [json.loads(line) for line in resumed.stdout if line.startswith("{")]
    assert resumed.wait(timeout=300) == 0
    start = next(e for e in events if e["event"] == "start")
    assert start["step"] >= 3 and start["resumed_from"].endswith(f"checkpoint-{start['step']}")
    assert events[-1]["event"] == "done" and events[-1]["steps"] == 10
    steps = [json.loads(row)["step"] for row in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 10 and (out / "adapter" / "adapter_config.json").is_file()


def test_same_folder_with_another_config_is_refused(tiny, tmp_path):
    from training.ml.train import freeze_config

    config = _config(tiny, tmp_path, max_steps=4)
    out = Path(config.output_dir)
    out.mkdir(parents=True)
    freeze_config(config, out)
    changed = config_from_dict({**config_to_dict(config), "beta": 0.5})
    with pytest.raises(ConfigError, match=r"different config \(beta\)"):
        freeze_config(changed, out)
    freeze_config(config_from_dict({**config_to_dict(config), "num_threads": 2}), out)


def test_qlora_is_refused_without_cuda_and_bitsandbytes(tiny, tmp_path):
    import torch

    from training.ml.weights import QLoRAUnavailable, resolve_device

    if torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes"):
        pytest.skip("this machine can run QLoRA")
    config = _config(tiny, tmp_path, qlora=True)
    with pytest.raises(QLoRAUnavailable, match=r"QLoRA \(4-bit base\) needs .*qlora=false"):
        resolve_device(config)
    # From the command line it is a clean error event, not a traceback.
    config_path = tmp_path / "q.json"
    config_path.write_text(json.dumps(config_to_dict(config)))
    process = _start(config_path)
    last = [json.loads(line) for line in process.stdout if line.startswith("{")][-1]
    assert process.wait(timeout=120) == 1
    assert (last["event"] == "error" and "bitsandbytes" in last["message"]) or "CUDA" in last[
        "message"
    ]
