"""Reads for augmentation: the prompts a run may start from, runs and their records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from assist.models import AugmentationRecord, AugmentationRun
from evalhub.models import Prompt


def augmentation_runs_list() -> QuerySet[AugmentationRun]:
    return AugmentationRun.objects.select_related("model_version", "job").order_by(
        "-created_at", "-id"
    )


def augmentation_records(run: AugmentationRun, *, limit: int = 500) -> QuerySet[AugmentationRecord]:
    return run.records.select_related("source_prompt", "new_prompt", "duplicate_of").order_by("id")[
        :limit
    ]


def prompts_for_augmentation(
    *,
    label: str = "",
    campaign: Any = None,
    source: str = "",
    ids: Iterable[int] = (),
) -> QuerySet[Prompt]:
    """Original prompts (never earlier AI copies) matching every filter given."""
    prompts = Prompt.objects.filter(origin="original")
    if label:
        prompts = prompts.filter(labels__name=label)
    if campaign is not None:
        prompts = prompts.filter(campaigns=campaign)
    if source:
        prompts = prompts.filter(Q(data_source__name=source) | Q(source=source))
    ids = list(ids)
    if ids:
        prompts = prompts.filter(pk__in=ids)
    return prompts.distinct().order_by("pk")
