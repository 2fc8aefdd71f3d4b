"""Training runs: start (a run + its background job), execute (``python -m training.ml`` as a
subprocess, followed line by line), cancel, resume.

A run's truth is its job (``evalhub.Job``): its state, progress, heartbeat, log and error. The job
has one attempt: a run whose worker dies is failed by ``jobs_recover`` with the log it had, and
its subprocess dies with the worker (parent-death signal, and the child watches its parent). A
new run started with ``resume_from`` continues from the latest checkpoint of the old one.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from evalhub.models import ModelVersion
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.jobs import JobRun, job_cancel, job_create
from training.ml.config import ConfigError, config_from_dict
from training.models import DatasetItem, DatasetVersion, TrainingRun
from training.services.exports import dataset_export_write
from training.services.subprocess_follow import Progress, follow_training

TASK_PATH = "training.tasks.training_run_task"
TRAIN_FORMAT = {"dpo": "trl-conversational", "reward": "trl-conversational", "sft": "sft"}
PATH_FIELDS = ("model_path", "output_dir", "train_file", "eval_file", "adapter_path")


def runs_dir() -> Path:
    return Path(settings.DATA_DIR) / "runs"


def is_adapter_folder(path: str) -> bool:
    return bool(path) and (Path(path) / "adapter_config.json").is_file()


def resolve_start(start: ModelVersion) -> tuple[ModelVersion, str | None]:
    """(the base whose weights load, the starting adapter folder or None)."""
    if start.backend != ModelVersion.Backend.LOCAL or not start.path:
        raise InvalidInput(
            f"Training needs local weights, and {start.name!r} is a {start.backend} model "
            f"without a local path. Register a local copy (manage.py register_model NAME "
            f"--backend local --path FOLDER) and train from it.",
            details={"field": "start_model"},
        )
    if start.parent_id is None and not is_adapter_folder(start.path):
        return start, None
    base = start.parent
    if base is None or base.backend != ModelVersion.Backend.LOCAL or not base.path:
        raise InvalidInput(
            f"{start.name!r} is an adapter; its parent must be the local base it was trained on.",
            details={"field": "start_model"},
        )
    return base, start.path


def _unique_name(stem: str) -> str:
    stem = re.sub(r"\s+", "-", stem.strip())[:180]
    taken = set(TrainingRun.objects.filter(name__startswith=stem).values_list("name", flat=True))
    taken |= set(ModelVersion.objects.filter(name__startswith=stem).values_list("name", flat=True))
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    return name


def _validated_config(method: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The user's settings, checked by training.ml's own dataclass (paths are filled later)."""
    bad = sorted(set(overrides) & set(PATH_FIELDS))
    if bad:
        raise InvalidInput(f"{bad} are set by evalhub for each run; leave them out of the config.")
    try:
        config_from_dict(
            {"method": method, "model_path": "-", "output_dir": "-", "train_file": "-", **overrides}
        )
    except ConfigError as exc:
        raise InvalidInput(str(exc), details={"field": "config"}) from exc
    if overrides.get("qlora") and importlib.util.find_spec("bitsandbytes") is None:
        raise InvalidInput(
            "QLoRA needs a CUDA GPU and the bitsandbytes package, which this installation lacks. "
            "Install bitsandbytes on the GPU worker, or train plain LoRA (qlora: false).",
            details={"field": "qlora"},
        )
    return dict(overrides)


def training_run_start(
    *,
    dataset: DatasetVersion,
    start_model: ModelVersion,
    method: str,
    config: dict[str, Any] | None = None,
    compare_against: ModelVersion | None = None,
    name: str = "",
    resume_from: TrainingRun | None = None,
    created_by: AbstractBaseUser | None = None,
) -> TrainingRun:
    """Record a run and queue its job (it starts when the transaction commits)."""
    if method not in TRAIN_FORMAT:
        raise InvalidInput(f"Unknown method {method!r}; use dpo, sft or reward.")
    base, _adapter = resolve_start(start_model)
    settings_given = _validated_config(method, dict(config or {}))
    needed = {"pair__isnull": False} if method != "sft" else {}
    if not DatasetItem.objects.filter(dataset=dataset, split="train", **needed).exists():
        raise InvalidInput(
            f"Dataset {dataset.name!r} has no training rows for {method} (its train split holds "
            f"{'no pairs' if method != 'sft' else 'nothing'})."
        )
    if compare_against is not None and compare_against.pk == start_model.pk and method == "reward":
        compare_against = None
    user = created_by if getattr(created_by, "is_authenticated", False) else None
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=_unique_name(name or f"{start_model.name}-{method}-{dataset.name}"),
            dataset=dataset,
            start_model=start_model,
            base_model=base,
            compare_against=compare_against,
            method=method,
            config=settings_given,
            resumed_from=resume_from,
            output_dir="",
            created_by=user,
        )
        run.output_dir = str(runs_dir() / f"{run.pk:05d}-{slugify(run.name)[:80]}")
        run.job = job_create(
            kind="train",
            title=f"Train {run.name} ({method} on {dataset.name})",
            task_path=TASK_PATH,
            params={"training_run_id": run.pk},
            created_by=user,
            max_attempts=1,
        )
        run.save(update_fields=["output_dir", "job"])
    return run


def training_run_resume(
    *, run: TrainingRun, created_by: AbstractBaseUser | None = None
) -> TrainingRun:
    """A new run that continues ``run`` from its latest checkpoint (same data, same config)."""
    from training.ml.train import CHECKPOINTS_DIR, latest_checkpoint

    if run.status in ("queued", "running"):
        raise Conflict(f"Run {run.name!r} is still {run.status}; cancel it first.")
    if run.status == "succeeded":
        raise Conflict(f"Run {run.name!r} already succeeded; there is nothing to resume.")
    checkpoint = latest_checkpoint(Path(run.output_dir) / CHECKPOINTS_DIR)
    if checkpoint is None:
        raise Conflict(
            f"Run {run.name!r} wrote no checkpoint before it stopped; start a new run instead."
        )
    return training_run_start(
        dataset=run.dataset,
        start_model=run.start_model,
        method=run.method,
        config={**run.config, "resume_from_checkpoint": str(checkpoint)},
        compare_against=run.compare_against,
        name=f"{run.name}-resumed",
        resume_from=run,
        created_by=created_by,
    )


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Ask the run to stop: the job ends its training process at the next check (1 s)."""
    if run.job is None:
        raise Conflict(f"Run {run.name!r} has no job to cancel.")
    job_cancel(job=run.job)
    run.refresh_from_db()
    return run


def _write_inputs(run: TrainingRun) -> Path:
    """The data files (train / val export of the dataset) and the config for training.ml."""
    out = Path(run.output_dir)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    fmt = TRAIN_FORMAT[run.method]
    files = {}
    for split in ("train", "val"):
        path = data / f"{split}.jsonl"
        if not path.is_file():
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                rows = dataset_export_write(run.dataset, fmt, split, handle)
            tmp.replace(path)
            if rows == 0:
                path.write_text("", encoding="utf-8")
        files[split] = path if path.stat().st_size else None
    _base, adapter = resolve_start(run.start_model)
    request = {
        "method": run.method,
        **run.config,
        "model_path": run.base_model.path,
        "adapter_path": adapter,
        "output_dir": str(out),
        "train_file": str(files["train"]),
        "eval_file": str(files["val"]) if files["val"] else None,
    }
    path = out / "request.json"
    path.write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")
    return path


def training_run_execute(
    *, run: TrainingRun, job_run: JobRun, on_progress: Progress | None = None
) -> TrainingRun:
    """Run the training as a subprocess under ``job_run``; register the result on success."""
    from training.services.registry import training_run_register

    request = _write_inputs(run)
    follow_training(run=run, job_run=job_run, request=request, on_progress=on_progress)
    return training_run_register(run=run)
