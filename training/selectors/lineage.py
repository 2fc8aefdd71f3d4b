"""Lineage: which dataset and run produced a model version, which campaigns evaluated it, what
each dataset trained; and the current best version of a base's line.

The current best starts at the base and moves to a version that beat it: walking the campaigns
between versions of the line in the order they were created, whenever one compares the current
best with another version and the other wins (95% Wilson interval of its support rate, over
current decisive votes, entirely above 50%), that version becomes the current best.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from evalhub.models import Campaign, ModelVersion, Vote
from evalhub.stats import wilson_interval
from training.models import DatasetVersion, TrainingRun


def _line_of(base: ModelVersion) -> set[int]:
    """The base and every version derived from it (any depth)."""
    parents = dict(ModelVersion.objects.values_list("pk", "parent_id"))
    line = {base.pk}
    changed = True
    while changed:
        changed = False
        for pk, parent in parents.items():
            if parent in line and pk not in line:
                line.add(pk)
                changed = True
    return line


def model_version_current_best(
    *, base: ModelVersion, exclude: ModelVersion | None = None
) -> ModelVersion:
    line = _line_of(base) - ({exclude.pk} if exclude else set())
    campaigns = (
        Campaign.objects.filter(baseline_id__in=line, candidate_id__in=line)
        .annotate(
            wins=Count("votes", filter=Q(votes__outcome="candidate", votes__superseded_by=None)),
            losses=Count("votes", filter=Q(votes__outcome="baseline", votes__superseded_by=None)),
        )
        .order_by("created_at", "id")
        .values_list("baseline_id", "candidate_id", "wins", "losses")
    )
    best = base.pk
    for baseline_id, candidate_id, wins, losses in campaigns:
        if best not in (baseline_id, candidate_id) or wins + losses == 0:
            continue
        low, high = wilson_interval(wins, wins + losses)
        if best == baseline_id and float(low) > 0.5:
            best = candidate_id
        elif best == candidate_id and float(high) < 0.5:
            best = baseline_id
    return ModelVersion.objects.get(pk=best)


def model_version_lineage(model: ModelVersion) -> dict[str, Any]:
    """The run and dataset that produced it, the runs that started from it, its campaigns."""
    produced_by = (
        TrainingRun.objects.select_related("dataset", "start_model", "job")
        .filter(produced_model=model)
        .first()
    )
    campaigns = (
        Campaign.objects.filter(Q(baseline=model) | Q(candidate=model))
        .select_related("baseline", "candidate")
        .order_by("-created_at", "-id")
    )
    return {
        "model": model,
        "parent": model.parent,
        "produced_by": produced_by,
        "dataset": produced_by.dataset if produced_by else None,
        "trained_from": list(
            TrainingRun.objects.filter(start_model=model)
            .select_related("dataset", "produced_model", "job")
            .order_by("-created_at")
        ),
        "campaigns": list(campaigns),
        "votes": Vote.objects.filter(campaign__in=campaigns, superseded_by=None).count(),
    }


def dataset_lineage(dataset: DatasetVersion) -> list[TrainingRun]:
    """The runs trained on the dataset, with the model each produced and its follow-up."""
    return list(
        dataset.runs.select_related(
            "start_model", "produced_model", "follow_up_campaign", "job", "base_model"
        ).order_by("-created_at", "-id")
    )
