"""Reads of pairs and dataset versions (pages, API, CLI)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from evalhub.services.errors import NotFound
from training.models import (
    CompletionExample,
    DatasetItem,
    DatasetVersion,
    PairBuild,
    PreferencePair,
)


def dataset_get_by_ref(ref: str | int) -> DatasetVersion:
    """A dataset version by exact name or by id (the CLI accepts either)."""
    text = str(ref).strip()
    dataset = DatasetVersion.objects.filter(name=text).first()
    if dataset is None and text.isdecimal():
        dataset = DatasetVersion.objects.filter(pk=int(text)).first()
    if dataset is None:
        raise NotFound(f"No dataset version with name or id {text!r}.")
    return dataset


def datasets_list() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("created_by").annotate(n_runs=Count("runs"))


def pairs_list(
    *, source: str | None = None, campaign_id: int | None = None, active: bool | None = True
) -> QuerySet[PreferencePair]:
    pairs = PreferencePair.objects.select_related("prompt", "campaign").order_by("id")
    if source:
        pairs = pairs.filter(source=source)
    if campaign_id:
        pairs = pairs.filter(campaign_id=campaign_id)
    if active is not None:
        pairs = pairs.filter(is_active=active)
    return pairs


def pair_overview() -> dict[str, Any]:
    """Active pairs and examples per source, and the latest build (for the training page)."""
    by_source = {
        row["source"]: row
        for row in PreferencePair.objects.values("source").annotate(
            active=Count("id", filter=Q(is_active=True)),
            retired=Count("id", filter=Q(is_active=False)),
        )
    }
    examples = {
        (row["kind"]): row["n"]
        for row in CompletionExample.objects.filter(is_active=True)
        .values("kind")
        .annotate(n=Count("id"))
    }
    return {
        "by_source": [
            {"source": source, "label": label, **by_source.get(source, {"active": 0, "retired": 0})}
            for source, label in PreferencePair.Source.choices
        ],
        "active_pairs": sum(row["active"] for row in by_source.values()),
        "sft_examples": examples.get("sft", 0),
        "kto_examples": examples.get("kto", 0),
        "last_build": PairBuild.objects.select_related("created_by").first(),
    }


def dataset_items_sample(dataset: DatasetVersion, *, split: str, limit: int = 5) -> list[Any]:
    return list(
        DatasetItem.objects.filter(dataset=dataset, split=split, pair__isnull=False)
        .select_related("pair", "prompt")
        .order_by("id")[:limit]
    )
