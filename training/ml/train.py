"""One training run, top to bottom: DPO, SFT or a reward model with a LoRA adapter (TRL + peft).

``train(config)`` writes into ``config.output_dir``:

- ``config.json``: the frozen config (with library versions); a rerun in the same folder must
  match it, and then resumes from the latest checkpoint in ``checkpoints/``;
- ``metrics.jsonl``: one row per logging step (loss, reward accuracy and margin, eta, ...);
- ``checkpoints/checkpoint-N/``: resumable state (adapter, optimizer, scheduler, RNG);
- ``adapter/``: the trained adapter, written only once it reloads to the trained weights;
- ``result.json``: the summary, written last. A folder with it is finished: running again
  returns it without training.

Progress goes to ``emit`` as events (see ``training.ml.events``); from the command line they are
JSON lines on stdout, which is how a background job follows a run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from training.ml import weights
from training.ml.config import ConfigError, RunConfig, config_to_dict
from training.ml.events import Emit, metrics_row, print_event

RESULT_FILE = "result.json"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
# May differ between a run and its resumption (they do not change what is learned).
RESUMABLE_CHANGES = {"resume_from_checkpoint", "num_threads", "device"}


def train(config: RunConfig, emit: Emit = print_event) -> dict[str, Any]:
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    finished = read_result(out)
    if finished is not None:
        emit({"event": "done", "already_finished": True, **finished})
        return finished
    freeze_config(config, out)

    import torch

    started = time.time()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = weights.resolve_device(config)
    tokenizer = weights.load_tokenizer(config.model_path)
    model = weights.load_base(config, device=device, tokenizer=tokenizer)
    peft_config = None
    if config.adapter_path:
        model = weights.with_start_adapter(model, config)
        if config.method == "reward":
            peft_config = weights.lora_config(config)
    else:
        peft_config = weights.lora_config(config)

    train_rows = read_rows(config.train_file)
    eval_rows = read_rows(config.eval_file) if config.eval_file else None
    if not train_rows:
        raise ConfigError(f"{config.train_file} holds no rows: nothing to train on.")
    progress = ProgressCallback(out / METRICS_FILE, emit)
    trainer = build_trainer(
        config, model, tokenizer, device, train_rows, eval_rows, peft_config, progress
    )
    before = weights.trainable_state(trainer.model)

    checkpoint = resume_checkpoint(config, out)
    progress.resumed_from = checkpoint
    trainer.train(resume_from_checkpoint=checkpoint)
    final_eval = trainer.evaluate() if eval_rows else {}

    if not trainer.accelerator.is_main_process:  # accelerate launch: rank 0 writes the result
        trainer.accelerator.wait_for_everyone()
        return {}
    adapter_dir = weights.save_adapter(trainer.model, config, device=device, tokenizer=tokenizer)
    after = weights.trainable_state(trainer.model)
    result = {
        "method": config.method,
        "adapter": weights.adapter_summary(adapter_dir),
        "steps": trainer.state.global_step,
        "resumed_from": checkpoint,
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows or []),
        "device": device,
        "weight_change_norm": weights.weight_change(before, after),
        "first": progress.first,
        "last": progress.last,
        "eval": {k: v for k, v in final_eval.items() if isinstance(v, int | float)},
        "seconds": round(time.time() - started, 2),
    }
    write_json_atomic(out / RESULT_FILE, result)
    trainer.accelerator.wait_for_everyone()
    emit({"event": "done", **result})
    return result


def build_trainer(
    config: RunConfig,
    model: Any,
    tokenizer: Any,
    device: str,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]] | None,
    peft_config: Any,
    progress: Any,
) -> Any:
    """The TRL trainer for the method, with CPU-safe settings and our progress callback."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from transformers import ProgressCallback as TqdmCallback

    common = trainer_arguments(config, device, has_eval=bool(eval_rows))
    datasets = {
        "train_dataset": Dataset.from_list(train_rows),
        "eval_dataset": Dataset.from_list(eval_rows) if eval_rows else None,
    }
    match config.method:
        case "dpo":
            from trl import DPOConfig, DPOTrainer

            args = DPOConfig(
                **common,
                beta=config.beta,  # type: ignore[attr-defined]
                loss_type=list(config.loss_type),  # type: ignore[attr-defined]
                loss_weights=(
                    list(config.loss_weights) if config.loss_weights else None  # type: ignore[attr-defined]
                ),
                label_smoothing=config.label_smoothing,  # type: ignore[attr-defined]
            )
            trainer = DPOTrainer(
                model=model,
                args=args,
                processing_class=tokenizer,
                peft_config=peft_config,
                **datasets,
            )
        case "sft":
            from trl import SFTConfig, SFTTrainer

            args = SFTConfig(
                **common,
                completion_only_loss=config.completion_only_loss,  # type: ignore[attr-defined]
                packing=config.packing,  # type: ignore[attr-defined]
            )
            trainer = SFTTrainer(
                model=model,
                args=args,
                processing_class=tokenizer,
                peft_config=peft_config,
                **datasets,
            )
        case "reward":
            from trl import RewardConfig, RewardTrainer

            args = RewardConfig(
                **common,
                center_rewards_coefficient=config.center_rewards_coefficient,  # type: ignore[attr-defined]
            )
            trainer = RewardTrainer(
                model=model,
                args=args,
                processing_class=tokenizer,
                peft_config=peft_config,
                **datasets,
            )
        case _:
            raise ConfigError(f"Unknown method {config.method!r}.")
    for noisy in (PrinterCallback, TqdmCallback):  # progress goes out as JSON events only
        trainer.remove_callback(noisy)
    trainer.add_callback(progress)
    return trainer


def trainer_arguments(config: RunConfig, device: str, *, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments shared by the three methods (TRL's GPU defaults made explicit)."""
    cuda = device == "cuda"
    bf16 = config.bf16 if config.bf16 is not None else cuda and _bf16_supported()
    checkpointing = (
        config.gradient_checkpointing if config.gradient_checkpointing is not None else cuda
    )
    evaluate_every = has_eval and config.eval_steps is not None
    return {
        "output_dir": str(Path(config.output_dir) / CHECKPOINTS_DIR),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "per_device_eval_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_length": config.max_length,
        "warmup_steps": config.warmup_ratio,  # a float < 1 is a share of the steps
        "lr_scheduler_type": config.lr_scheduler_type,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "eval_strategy": "steps" if evaluate_every else "no",
        "eval_steps": config.eval_steps if evaluate_every else None,
        "bf16": bf16,
        "use_cpu": not cuda,
        "activation_checkpointing": checkpointing,
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _progress_callback_class() -> type:
    from transformers import TrainerCallback

    class _ProgressCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self, metrics_path: Path, emit: Emit) -> None:
            self.metrics_path, self.emit = metrics_path, emit
            self.resumed_from: str | None = None
            self.first: dict[str, Any] = {}
            self.last: dict[str, Any] = {}
            self._t0 = time.time()
            self._step0 = 0
            self._parent = int(os.environ.get("TRAINING_ML_PARENT_PID", "0") or 0)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._t0, self._step0 = time.time(), state.global_step
            if state.is_world_process_zero:
                self.emit(
                    {
                        "event": "start",
                        "step": state.global_step,
                        "total_steps": state.max_steps,
                        "resumed_from": self.resumed_from,
                    }
                )

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self._parent and os.getppid() != self._parent:
                os._exit(70)  # our job's worker died: nobody reads us, stop at once

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            row = metrics_row(
                logs, step=state.global_step, total_steps=state.max_steps, epoch=state.epoch
            )
            if "loss" not in logs:
                if any(k.startswith("eval_") for k in logs):
                    self.emit({"event": "eval", **row})
                return
            done = state.global_step - self._step0
            elapsed = time.time() - self._t0
            row["elapsed_s"] = round(elapsed, 2)
            row["eta_s"] = (
                round(elapsed / done * (state.max_steps - state.global_step), 1) if done else None
            )
            self.first = self.first or row
            self.last = row
            with self.metrics_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            self.emit({"event": "progress", **row})

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                self.emit({"event": "checkpoint", "step": state.global_step, "path": str(path)})

    return _ProgressCallback


def ProgressCallback(metrics_path: Path, emit: Emit) -> Any:
    """The callback that turns trainer logs into progress events and metrics rows."""
    return _progress_callback_class()(metrics_path, emit)


def resume_checkpoint(config: RunConfig, out: Path) -> str | None:
    """This folder's latest complete checkpoint, else the configured one, else None."""
    own = latest_checkpoint(out / CHECKPOINTS_DIR)
    if own is not None:
        return str(own)
    if config.resume_from_checkpoint:
        path = Path(config.resume_from_checkpoint)
        if path.is_dir() and not path.name.startswith("checkpoint-"):
            path = latest_checkpoint(path) or latest_checkpoint(path / CHECKPOINTS_DIR) or path
        if not (path / "trainer_state.json").is_file():
            raise ConfigError(f"resume_from_checkpoint {path} is not a complete checkpoint.")
        return str(path)
    return None


def latest_checkpoint(folder: Path) -> Path | None:
    """The highest-numbered ``checkpoint-N`` that was completely written."""
    if not folder.is_dir():
        return None
    complete = [
        path
        for path in folder.glob("checkpoint-*")
        if path.name.removeprefix("checkpoint-").isdigit()
        and (path / "trainer_state.json").is_file()
        and any(path.glob("optimizer.*"))
    ]
    return max(complete, key=lambda p: int(p.name.removeprefix("checkpoint-")), default=None)


def freeze_config(config: RunConfig, out: Path) -> None:
    """Write the config (once); a rerun in the same folder must ask for the same run."""
    path = out / CONFIG_FILE
    current = config_to_dict(config)
    if path.is_file():
        frozen = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(
            key
            for key in set(frozen["config"]) | set(current)
            if key not in RESUMABLE_CHANGES and frozen["config"].get(key) != current.get(key)
        )
        if changed:
            raise ConfigError(
                f"{out} already holds a run with a different config ({', '.join(changed)}); "
                "use a new output_dir, or resume_from_checkpoint to continue from it."
            )
        return
    write_json_atomic(path, {"config": current, "versions": library_versions()})


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


def read_rows(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_result(out: Path) -> dict[str, Any] | None:
    path = out / RESULT_FILE
    if path.is_file() and (out / weights.ADAPTER_DIR / "adapter_config.json").is_file():
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return result
    return None


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
