"""Building preference pairs (and SFT / KTO examples) from every signal, with provenance.

``pairs_build`` recomputes the pairs of the chosen sources and campaigns from the signals as they
are now, upserts them by content hash (new ones get their prompt's labels) and retires those the
signals no longer support. It is idempotent: building twice changes nothing the second time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from evalhub.models import Campaign, Prompt
from evalhub.services.errors import InvalidInput
from training.models import CompletionExample, PairBuild, PreferencePair
from training.models.pairs import PairSource, example_content_hash, normalized_pair_hash
from training.services import pair_sources
from training.services.pair_sources import ExampleRow, PairRow, SourceRows
from training.services.pair_store import attach_labels, sync_rows

BUILDABLE = (
    PairSource.PAIRWISE,
    PairSource.WORKBENCH_PICK,
    PairSource.WORKBENCH_EDIT,
    PairSource.CHOICE,
    PairSource.THUMBS,
)
PAIR_MUTABLE = ["strength", "n_signals", "agreement", "source_key"]
EXAMPLE_MUTABLE = ["strength", "source_key"]
Progress = Callable[[int, int, str], None]


def _collect(
    sources: Collection[str], campaign_ids: list[int], include_simulated: bool
) -> dict[str, SourceRows]:
    """source -> its rows (the workbench gives picks and edits in one pass)."""
    found: dict[str, SourceRows] = {}
    if PairSource.PAIRWISE in sources:
        found[PairSource.PAIRWISE] = pair_sources.pairwise_rows(
            campaign_ids, include_simulated=include_simulated
        )
    if {PairSource.WORKBENCH_PICK, PairSource.WORKBENCH_EDIT} & set(sources):
        picks, edits = pair_sources.workbench_rows(campaign_ids)
        if PairSource.WORKBENCH_PICK in sources:
            found[PairSource.WORKBENCH_PICK] = picks
        if PairSource.WORKBENCH_EDIT in sources:
            found[PairSource.WORKBENCH_EDIT] = edits
    if PairSource.CHOICE in sources:
        found[PairSource.CHOICE] = pair_sources.choice_rows(campaign_ids)
    if PairSource.THUMBS in sources:
        found[PairSource.THUMBS] = pair_sources.thumbs_rows(campaign_ids)
    return found


def pairs_build(
    *,
    sources: Iterable[str] | None = None,
    campaigns: Iterable[Campaign] | None = None,
    include_simulated: bool = False,
    created_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> PairBuild:
    """Build (or rebuild) pairs and examples; returns the build record with its counts."""
    chosen = list(dict.fromkeys(sources or BUILDABLE))
    unknown = sorted(set(chosen) - set(BUILDABLE))
    if unknown:
        raise InvalidInput(
            f"Unknown pair source(s) {unknown}; use any of {', '.join(BUILDABLE)}.",
            details={"field": "sources"},
        )
    campaign_ids = sorted({c.pk for c in campaigns or []})
    report = progress or (lambda done, total, message: None)
    started = time.perf_counter()
    build = PairBuild.objects.create(
        sources=chosen,
        campaigns=campaign_ids,
        include_simulated=include_simulated,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    report(0, len(chosen) + 1, "reading signals")
    found = _collect(chosen, campaign_ids, include_simulated)
    label_map = _prompt_labels()
    counts: dict[str, Any] = {}
    for step, source in enumerate(chosen, start=1):
        rows = found[source]
        with transaction.atomic():
            pair_counts = _upsert_pairs(source, campaign_ids, rows.pairs, build, label_map)
            example_counts = _upsert_examples(source, campaign_ids, rows.examples, build, label_map)
        counts[source] = {**dict(rows.counts), **pair_counts, **example_counts}
        report(step, len(chosen) + 1, f"{source}: {pair_counts['pairs']} pairs")
    build.counts = counts
    build.seconds = round(time.perf_counter() - started, 3)
    build.save(update_fields=["counts", "seconds"])
    report(len(chosen) + 1, len(chosen) + 1, "done")
    return build


def _prompt_labels() -> dict[int, list[int]]:
    labels: dict[int, list[int]] = {}
    for prompt_id, label_id in Prompt.labels.through.objects.values_list(
        "prompt_id", "label_id"
    ).iterator(chunk_size=20_000):
        labels.setdefault(prompt_id, []).append(label_id)
    return labels


def _scope(campaign_ids: list[int]) -> Q:
    return Q(campaign_id__in=campaign_ids) if campaign_ids else Q()


def _merge_pairs(source: str, rows: list[PairRow]) -> dict[str, dict[str, Any]]:
    """content hash -> column values; the same preference from two records of one campaign
    adds up (strength and signals)."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = normalized_pair_hash(
            source, row.campaign_id, row.prompt_hash, row.chosen_norm, row.rejected_norm
        )
        if key in merged:
            merged[key]["strength"] += row.strength
            merged[key]["n_signals"] += row.n_signals
            continue
        merged[key] = {
            "prompt_id": row.prompt_id,
            "chosen_text": row.chosen_text,
            "rejected_text": row.rejected_text,
            "chosen_output_id": row.chosen_output_id,
            "rejected_output_id": row.rejected_output_id,
            "source": source,
            "source_key": row.source_key[:200],
            "campaign_id": row.campaign_id,
            "strength": row.strength,
            "n_signals": row.n_signals,
        }
    for values in merged.values():
        values["n_signals"] = max(values["n_signals"], values["strength"])
        values["agreement"] = values["strength"] / values["n_signals"]
    return merged


def _new_rows(model: Any, scope: Q, build: PairBuild, since: datetime) -> list[tuple[int, int]]:
    return list(
        model.objects.filter(scope, last_build=build, created_at__gte=since).values_list(
            "pk", "prompt_id"
        )
    )


def _upsert_pairs(
    source: str,
    campaign_ids: list[int],
    rows: list[PairRow],
    build: PairBuild,
    label_map: dict[int, list[int]],
) -> dict[str, int]:
    merged = _merge_pairs(source, rows)
    now = timezone.now()
    scope = _scope(campaign_ids) & Q(source=source)
    result = sync_rows(
        PreferencePair, scope, merged, mutable=PAIR_MUTABLE, build_id=build.pk, now=now
    )
    new = _new_rows(PreferencePair, scope, build, now)
    attach_labels(PreferencePair.labels.through, "preferencepair_id", new, label_map)
    pair_sources.stamp_data_source(PreferencePair, scope)
    return {
        "pairs": len(merged),
        "new": result.new,
        "changed": result.changed,
        "retired": result.retired,
    }


def _upsert_examples(
    source: str,
    campaign_ids: list[int],
    rows: list[ExampleRow],
    build: PairBuild,
    label_map: dict[int, list[int]],
) -> dict[str, int]:
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = example_content_hash(
            kind=row.kind,
            source=source,
            campaign_id=row.campaign_id,
            prompt_hash=row.prompt_hash,
            text=row.completion,
            label=row.label,
        )
        if key in merged:
            merged[key]["strength"] += row.strength
            continue
        merged[key] = {
            "kind": row.kind,
            "prompt_id": row.prompt_id,
            "completion": row.completion,
            "output_id": row.output_id,
            "label": row.label,
            "source": source,
            "source_key": row.source_key[:200],
            "campaign_id": row.campaign_id,
            "strength": row.strength,
        }
    now = timezone.now()
    scope = _scope(campaign_ids) & Q(source=source)
    result = sync_rows(
        CompletionExample, scope, merged, mutable=EXAMPLE_MUTABLE, build_id=build.pk, now=now
    )
    new = _new_rows(CompletionExample, scope, build, now)
    attach_labels(CompletionExample.labels.through, "completionexample_id", new, label_map)
    pair_sources.stamp_data_source(CompletionExample, scope)
    kinds = Counter(values["kind"] for values in merged.values())
    return {
        "sft_examples": kinds["sft"],
        "kto_examples": kinds["kto"],
        "examples_retired": result.retired,
    }
