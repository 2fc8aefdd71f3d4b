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
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from evalhub.models import Campaign, Prompt
from evalhub.services.errors import InvalidInput
from training.models import CompletionExample, PairBuild, PreferencePair
from training.models.pairs import PairSource, example_content_hash, pair_content_hash
from training.services import pair_sources
from training.services.pair_sources import ExampleRow, PairRow, SourceRows

BUILDABLE = (
    PairSource.PAIRWISE,
    PairSource.WORKBENCH_PICK,
    PairSource.WORKBENCH_EDIT,
    PairSource.CHOICE,
    PairSource.THUMBS,
)
BATCH = 2000
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


def _merge_pairs(source: str, rows: list[PairRow]) -> dict[str, PairRow]:
    """content hash -> row; the same preference from two records of one campaign adds up."""
    merged: dict[str, PairRow] = {}
    for row in rows:
        key = pair_content_hash(
            source=source,
            campaign_id=row.campaign_id,
            prompt_hash=row.prompt_hash,
            chosen=row.chosen_text,
            rejected=row.rejected_text,
        )
        if key in merged:
            merged[key].strength += row.strength
            merged[key].n_signals += row.n_signals
        else:
            merged[key] = PairRow(**{f: getattr(row, f) for f in row.__slots__})
    return merged


def _upsert(model: Any, columns: list[str], rows: list[tuple[Any, ...]], update: list[str]) -> None:
    """INSERT ... ON CONFLICT (content_hash) DO UPDATE in batches (SQLite and PostgreSQL alike).

    Plain ``executemany``: ``bulk_create(update_conflicts=True)`` spent about half a millisecond
    per row preparing values, ten times what the database needs (benchmarks/pairs_speed.py).
    """
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608 - names from model meta
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT ({quote('content_hash')}) "
        f"DO UPDATE SET {', '.join(f'{quote(c)} = excluded.{quote(c)}' for c in update)}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])


PAIR_COLUMNS = [
    "prompt_id", "chosen_text", "rejected_text", "chosen_output_id", "rejected_output_id",
    "source", "source_key", "campaign_id", "strength", "n_signals", "agreement", "content_hash",
    "is_active", "last_build_id", "created_at", "updated_at",
]  # fmt: skip
PAIR_UPDATES = [
    "strength",
    "n_signals",
    "agreement",
    "is_active",
    "last_build_id",
    "source_key",
    "updated_at",
]


def _upsert_pairs(
    source: str,
    campaign_ids: list[int],
    rows: list[PairRow],
    build: PairBuild,
    label_map: dict[int, list[int]],
) -> dict[str, int]:
    merged = _merge_pairs(source, rows)
    started: datetime = timezone.now()
    now = connection.ops.adapt_datetimefield_value(started)
    values = [
        (
            row.prompt_id,
            row.chosen_text,
            row.rejected_text,
            row.chosen_output_id,
            row.rejected_output_id,
            source,
            row.source_key[:200],
            row.campaign_id,
            row.strength,
            max(row.n_signals, row.strength),
            row.strength / max(row.n_signals, row.strength),
            key,
            True,
            build.pk,
            now,
            now,
        )
        for key, row in merged.items()
    ]
    _upsert(PreferencePair, PAIR_COLUMNS, values, PAIR_UPDATES)
    in_scope = PreferencePair.objects.filter(_scope(campaign_ids), source=source)
    retired = in_scope.filter(is_active=True).exclude(last_build=build).update(is_active=False)
    new = in_scope.filter(last_build=build, created_at__gte=started)
    _attach_labels(PreferencePair.labels.through, "preferencepair_id", new, label_map)
    return {"pairs": len(merged), "new": new.count(), "retired": retired}


def _upsert_examples(
    source: str,
    campaign_ids: list[int],
    rows: list[ExampleRow],
    build: PairBuild,
    label_map: dict[int, list[int]],
) -> dict[str, int]:
    started = timezone.now()
    merged: dict[str, CompletionExample] = {}
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
            merged[key].strength += row.strength
            continue
        merged[key] = CompletionExample(
            kind=row.kind,
            prompt_id=row.prompt_id,
            completion=row.completion,
            output_id=row.output_id,
            label=row.label,
            source=source,
            source_key=row.source_key[:200],
            campaign_id=row.campaign_id,
            strength=row.strength,
            content_hash=key,
            is_active=True,
            last_build=build,
        )
    CompletionExample.objects.bulk_create(
        list(merged.values()),
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["content_hash"],
        update_fields=["strength", "is_active", "last_build", "source_key", "updated_at"],
    )
    in_scope = CompletionExample.objects.filter(_scope(campaign_ids), source=source)
    retired = in_scope.filter(is_active=True).exclude(last_build=build).update(is_active=False)
    new = in_scope.filter(last_build=build, created_at__gte=started)
    _attach_labels(CompletionExample.labels.through, "completionexample_id", new, label_map)
    kinds = Counter(example.kind for example in merged.values())
    return {
        "sft_examples": kinds["sft"],
        "kto_examples": kinds["kto"],
        "examples_retired": retired,
    }


def _attach_labels(through: Any, column: str, rows: Any, label_map: dict[int, list[int]]) -> None:
    """The prompt's labels on each new row (a snapshot: later relabelling does not move pairs)."""
    quote = connection.ops.quote_name
    links = [
        (pk, label_id)
        for pk, prompt_id in rows.values_list("pk", "prompt_id").iterator(chunk_size=20_000)
        for label_id in label_map.get(prompt_id, ())
    ]
    sql = (
        f"INSERT INTO {quote(through._meta.db_table)} ({quote(column)}, {quote('label_id')}) "  # noqa: S608 - names from model meta
        "VALUES (%s, %s) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(links), BATCH):
            cursor.executemany(sql, links[start : start + BATCH])
