"""DPO training speed through training.ml (TRL DPOTrainer + LoRA), steps and tokens per second.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dpo_speed.py            # tiny model, CPU
    python benchmarks/dpo_speed.py --model qwen2.5-0.5b --device cuda --batch-size 8 \\
        --answer-repeat 4 --steps 40                                      # ~0.5 B model, GPU

The model is built from a config with random weights (speed does not depend on them): ``tiny``
has the demo model's shapes (2 layers, hidden 128, ~0.5 M parameters), ``qwen2.5-0.5b`` Qwen2.5-
0.5B's shapes (24 layers, hidden 896, 151,936-token vocabulary, ~494 M parameters) in the Llama
architecture. The tokenizer is the demo one, trained here in seconds. Rows are the bundled
customer-service prompts, warm answers preferred over curt ones (``--answer-repeat`` makes each
answer k times longer). The run goes through ``training.ml.train.train`` exactly as a job runs
it (bf16 and activation checkpointing on CUDA, LoRA r 16 on all projections); the first
``--warmup`` steps are left out of the rates. Tokens are TRL's count (prompt + chosen + rejected).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHAPES = {
    "tiny": {"hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": None},
    "qwen2.5-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936},
}  # fmt: skip


def build_model(name: str, folder: Path, device: str) -> tuple[int, Any]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from evalhub.generation.corpus import corpus_lines, load_demo_prompts
    from evalhub.generation.demo_models import train_tokenizer

    tokenizer = train_tokenizer(corpus_lines(load_demo_prompts()), vocab_size=1024)
    shape = dict(SHAPES[name])
    shape["vocab_size"] = shape["vocab_size"] or len(tokenizer)
    config = LlamaConfig(
        **shape,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device("cuda" if device == "cuda" else "cpu"):
        model = LlamaForCausalLM(config).to(dtype)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    tokenizer.model_max_length = 4096
    tokenizer.save_pretrained(folder)
    del model
    return params, tokenizer


def write_rows(path: Path, n_rows: int, repeat: int) -> None:
    from evalhub.generation.base import build_messages
    from evalhub.generation.corpus import load_demo_prompts

    prompts = load_demo_prompts()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n_rows):
            p = prompts[i % len(prompts)]
            row = {
                "prompt": list(build_messages(p.system, (), p.instruction, p.input)),
                "chosen": [{"role": "assistant", "content": " ".join([p.better_answer] * repeat)}],
                "rejected": [
                    {"role": "assistant", "content": " ".join([p.baseline_answer] * repeat)}
                ],
            }
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--answer-repeat", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    parser.add_argument("--out", help="Also write the figures as JSON here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from training.ml.config import config_from_dict
    from training.ml.train import train

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        params, _ = build_model(args.model, folder / "model", args.device)
        write_rows(folder / "train.jsonl", args.steps * args.batch_size, args.answer_repeat)
        config = config_from_dict({
            "method": "dpo", "model_path": str(folder / "model"), "output_dir": str(folder / "run"),
            "train_file": str(folder / "train.jsonl"), "max_steps": args.steps,
            "per_device_train_batch_size": args.batch_size, "learning_rate": 1e-4,
            "max_length": args.max_length, "save_steps": args.steps + 1, "warmup_ratio": 0.0,
            "device": args.device, "num_threads": args.threads,
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        })  # fmt: skip
        events: list[dict[str, Any]] = []
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = train(config, emit=events.append)
        wall = time.perf_counter() - started
    progress = [e for e in events if e["event"] == "progress"]
    first, last = progress[args.warmup - 1], progress[-1]
    seconds = last["elapsed_s"] - first["elapsed_s"]
    steps = last["step"] - first["step"]
    tokens = last["num_tokens"] - first["num_tokens"]
    figures = {
        "model": args.model,
        "parameters": params,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{args.threads}",
        "batch_size": args.batch_size,
        "tokens_per_row": round(tokens / (steps * args.batch_size), 1),
        "steps_per_s": round(steps / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "seconds_per_step": round(seconds / steps, 4),
        "timed_steps": steps,
        "loss_first_last": [round(progress[0]["loss"], 4), round(last["loss"], 4)],
        "reward_accuracy_last": last.get("reward_accuracy"),
        "wall_s_including_load_and_save": round(wall, 1),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if args.device == "cuda"
        else None,
        "adapter_verified": bool(result.get("adapter")),
        "versions": {
            m: __import__(m).__version__ for m in ("torch", "transformers", "trl", "peft")
        },
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
