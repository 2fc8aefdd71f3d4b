"""Reads of training runs: lists, one run with its live state, memory estimates for the form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from evalhub.models import ModelVersion
from evalhub.services.errors import NotFound
from training.models import TrainingRun

LIVE_KEYS = ("step", "total_steps", "loss", "reward_accuracy", "reward_margin", "eta_s",
             "elapsed_s", "epoch", "learning_rate", "last_checkpoint", "resumed_from")  # fmt: skip


def training_runs_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related(
        "dataset", "start_model", "produced_model", "follow_up_campaign", "job"
    ).defer("metrics", "result", "job__log", "job__result")


def training_run_get(pk: int | str) -> TrainingRun:
    run = (
        TrainingRun.objects.select_related(
            "dataset", "start_model", "base_model", "produced_model", "follow_up_campaign",
            "compare_against", "job", "resumed_from", "created_by",
        )
        .filter(pk=pk)
        .first()
    )  # fmt: skip
    if run is None:
        raise NotFound(f"No training run with id {pk}.")
    return run


def training_run_get_by_ref(ref: str | int) -> TrainingRun:
    text = str(ref).strip()
    run = TrainingRun.objects.filter(name=text).first()
    if run is None and text.isdecimal():
        run = TrainingRun.objects.filter(pk=int(text)).first()
    if run is None:
        raise NotFound(f"No training run with name or id {text!r}.")
    return training_run_get(run.pk)


def training_run_live(run: TrainingRun) -> dict[str, Any]:
    """What the run page polls: state, step / total, loss, reward accuracy and margin, eta."""
    job = run.job
    progress = run.progress or {}
    return {
        "id": run.pk,
        "name": run.name,
        "status": run.status,
        "message": job.message if job else "",
        "error": job.error if job and run.status == "failed" else "",
        **{key: progress.get(key) for key in LIVE_KEYS},
        "percent": job.percent if job else None,
        "produced_model": run.produced_model.name if run.produced_model_id else None,
        "follow_up_campaign_id": run.follow_up_campaign_id,
        "can_resume": can_resume(run),
    }


def can_resume(run: TrainingRun) -> bool:
    from training.ml.train import CHECKPOINTS_DIR, latest_checkpoint

    if run.status not in ("failed", "cancelled") or not run.output_dir:
        return False
    return latest_checkpoint(Path(run.output_dir) / CHECKPOINTS_DIR) is not None


def memory_estimate(
    model: ModelVersion, *, batch_size: int = 8, seq_len: int = 1024, lora_r: int = 16,
    method: str = "dpo", target_modules: tuple[str, ...] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Full FT / LoRA / QLoRA memory of training ``model`` (its base's weights), or why not."""
    from training.ml.config import DEFAULT_TARGET_MODULES
    from training.ml.memory import estimate_memory, read_model_shape

    base = model.parent if model.parent_id and model.method != "base" else model
    if not base.path:
        return {"error": f"{base.name} has no local weights to measure."}
    try:
        shape = read_model_shape(base.path)
    except (OSError, ValueError) as exc:
        return {"error": f"cannot read {base.path}: {exc}"}
    rows = estimate_memory(
        shape,
        batch_size=batch_size,
        seq_len=seq_len,
        lora_r=lora_r,
        target_modules=target_modules or DEFAULT_TARGET_MODULES,
        sequences_per_row=1 if method == "sft" else 2,
    )
    return {
        "base": base.name,
        "params": shape.n_params,
        "params_exact": shape.params_exact,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "lora_r": lora_r,
        "method": method,
        "estimates": [_with_text(row.as_dict()) for row in rows],
    }


def _with_text(row: dict[str, Any]) -> dict[str, Any]:
    """Display strings beside the GiB numbers (MiB below one GiB: tiny models read as 0.00)."""
    for key in ("weights_gib", "gradients_and_optimizer_gib", "activations_gib", "total_gib"):
        gib = row[key]
        row[key.removesuffix("_gib") + "_text"] = (
            f"{gib:.2f} GiB" if gib >= 1 else f"{gib * 1024:.1f} MiB"
        )
    return row
