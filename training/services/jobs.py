"""Queueing the long training-side jobs that pages and the API start (the CLI runs them inline).

The inputs are validated here, before a job exists, so a bad request fails at once with a clear
message instead of in the worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from evalhub.models import Campaign, Job
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.jobs import job_create
from training.models import DatasetVersion
from training.services.dedup import DEFAULT_THRESHOLD
from training.services.pairs import BUILDABLE
from training.services.splits import validate_ratios

PAIRS_TASK = "training.tasks.pairs_build_task"
FREEZE_TASK = "training.tasks.dataset_freeze_task"


def pairs_build_enqueue(
    *,
    sources: Iterable[str] = (),
    campaigns: Iterable[Campaign] = (),
    include_simulated: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> Job:
    chosen = list(dict.fromkeys(sources))
    unknown = sorted(set(chosen) - set(BUILDABLE))
    if unknown:
        raise InvalidInput(f"Unknown pair source(s) {unknown}; use any of {', '.join(BUILDABLE)}.")
    if Job.objects.filter(kind="pairs", state__in=["queued", "running"]).exists():
        raise Conflict("A pair build is already queued or running.", code="job_active")
    return job_create(
        kind="pairs",
        title="Build preference pairs",
        task_path=PAIRS_TASK,
        params={
            "sources": chosen,
            "campaign_ids": sorted(c.pk for c in campaigns),
            "include_simulated": include_simulated,
        },
        created_by=created_by,
        max_attempts=2,
    )


def dataset_freeze_enqueue(
    *,
    name: str,
    filters: dict[str, Any],
    split: dict[str, float] | None = None,
    seed: int = 0,
    near_duplicate_threshold: float = DEFAULT_THRESHOLD,
    description: str = "",
    created_by: AbstractBaseUser | None = None,
) -> Job:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A dataset version needs a name.", details={"field": "name"})
    if DatasetVersion.objects.filter(name=name).exists():
        raise Conflict(f"A dataset version named {name!r} already exists (versions are frozen).")
    try:
        ratios = validate_ratios(split or {"train": 0.8, "val": 0.1, "test": 0.1})
    except ValueError as exc:
        raise InvalidInput(str(exc), details={"field": "split"}) from exc
    if not 0 < near_duplicate_threshold <= 1:
        raise InvalidInput("near_duplicate_threshold must be within (0, 1].")
    return job_create(
        kind="dataset",
        title=f"Freeze dataset {name}",
        task_path=FREEZE_TASK,
        params={
            "name": name,
            "filters": filters,
            "split": ratios,
            "seed": seed,
            "near_duplicate_threshold": near_duplicate_threshold,
            "description": description,
        },
        created_by=created_by,
        max_attempts=2,
    )
