"""Loading the base (and a starting adapter), and writing the trained adapter so that it is
either complete and loadable or absent.

The adapter is saved to ``adapter.partial/``, loaded back onto a freshly loaded base and compared
tensor by tensor with the trained weights, and only then renamed to ``adapter/`` (a rename within
one folder is atomic). A reader that finds ``adapter/`` can trust it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from training.ml.config import RunConfig

ADAPTER_DIR = "adapter"
PARTIAL_DIR = "adapter.partial"


class QLoRAUnavailable(RuntimeError):
    """QLoRA was asked for where it cannot run (no CUDA device or no bitsandbytes)."""


def resolve_device(config: RunConfig) -> str:
    import torch

    cuda = torch.cuda.is_available()
    if config.qlora:
        qlora_check(cuda)
    if config.device == "cuda" and not cuda:
        raise RuntimeError("device='cuda' but torch sees no CUDA device; use device='cpu'.")
    return "cuda" if config.device == "cuda" or (config.device == "auto" and cuda) else "cpu"


def qlora_check(cuda: bool) -> None:
    """Refuse QLoRA, with what to do instead, unless a CUDA device and bitsandbytes are here."""
    import importlib.util

    missing = []
    if not cuda:
        missing.append("a CUDA GPU (torch sees none)")
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("the bitsandbytes package")
    if missing:
        raise QLoRAUnavailable(
            "QLoRA (4-bit base) needs " + " and ".join(missing) + ". Run it on a GPU host with "
            "`pip install bitsandbytes`, or set qlora=false to train plain LoRA."
        )


def load_tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(config: RunConfig, *, device: str, tokenizer: Any) -> Any:
    """The base model for the method: a causal LM (DPO, SFT) or a scalar-head classifier
    (reward), in 4-bit for QLoRA, bf16 on a bf16-capable GPU, else float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"local_files_only": True}
    if config.qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    elif device == "cuda" and torch.cuda.is_bf16_supported():
        kwargs["dtype"] = torch.bfloat16
    else:
        kwargs["dtype"] = torch.float32
    if config.method == "reward":
        model = AutoModelForSequenceClassification.from_pretrained(
            config.model_path, num_labels=1, **kwargs
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(config.model_path, **kwargs)
    model.config.pad_token_id = tokenizer.pad_token_id
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(config.gradient_checkpointing)
        )
    return model


def with_start_adapter(model: Any, config: RunConfig) -> Any:
    """Attach the starting adapter as the trainable "default" adapter.

    For a reward run the starting (causal LM) adapter is merged into the base first: the reward
    model starts from the fine-tuned policy and gets its own fresh LoRA and head.
    """
    from peft import PeftModel

    if config.method == "reward":
        return PeftModel.from_pretrained(model, config.adapter_path).merge_and_unload()
    return PeftModel.from_pretrained(model, config.adapter_path, is_trainable=True)


def lora_config(config: RunConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.target_modules),
        task_type="SEQ_CLS" if config.method == "reward" else "CAUSAL_LM",
    )


def trainable_state(model: Any) -> dict[str, Any]:
    """A CPU copy of the trainable tensors of the "default" adapter (and head)."""
    return {
        name: param.detach().float().cpu().clone()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def weight_change(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Euclidean norm of the change of the trainable weights."""
    total = 0.0
    for name, value in after.items():
        if name in before:
            total += float(((value - before[name]) ** 2).sum())
    return total**0.5


def save_adapter(model: Any, config: RunConfig, *, device: str, tokenizer: Any) -> Path:
    """Write, reload-check and publish the trained adapter; returns ``adapter/``."""
    out = Path(config.output_dir)
    partial, final = out / PARTIAL_DIR, out / ADAPTER_DIR
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, selected_adapters=["default"])
    nested = partial / "default"  # peft nests non-default names only; be safe either way
    if nested.is_dir() and not (partial / "adapter_config.json").exists():
        for item in nested.iterdir():
            item.replace(partial / item.name)
        nested.rmdir()
    _verify_adapter(partial, trainable_state(model), config, device=device, tokenizer=tokenizer)
    if final.exists():
        shutil.rmtree(final)
    partial.replace(final)
    return final


def _verify_adapter(
    folder: Path, trained: dict[str, Any], config: RunConfig, *, device: str, tokenizer: Any
) -> None:
    from peft import PeftModel

    base = load_base(config, device=device, tokenizer=tokenizer)
    if config.adapter_path and config.method == "reward":
        base = with_start_adapter(base, config)
    loaded = PeftModel.from_pretrained(base, folder)
    reloaded = {
        name: param.detach().float().cpu()
        for name, param in loaded.named_parameters()
        if any(part in name for part in ("lora_", "modules_to_save"))
    }
    mismatched = []
    for name, value in trained.items():
        twin = reloaded.get(name)
        if twin is None or twin.shape != value.shape or float((twin - value).abs().max()) > 1e-5:
            mismatched.append(name)
    if not trained or mismatched:
        raise RuntimeError(
            f"the saved adapter does not reload to the trained weights ({len(mismatched)} of "
            f"{len(trained)} tensors differ, e.g. {mismatched[:3]})"
        )


def folder_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file in the folder (the registered adapter's fingerprint)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def adapter_summary(folder: Path) -> dict[str, Any]:
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    return {
        "path": str(folder.resolve()),
        "files": folder_digest(folder),
        "task_type": config.get("task_type"),
        "r": config.get("r"),
        "target_modules": config.get("target_modules"),
    }
