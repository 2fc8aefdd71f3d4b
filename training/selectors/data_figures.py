"""Figures per data source and per label: volume, agreement, survival and support rate.

Everything is aggregated in the database (``values().annotate(Count(...))``, one query per
figure) and handed to ``evalhub.stats`` as arrays; nothing loops over votes or pairs in Python.

Definitions (docs/data-sources.md):

- a vote belongs to the source of its prompt (a rater's vote in a campaign has no source of its
  own; imported battle votes also carry the import's source in ``Vote.data_source``);
- agreement: Krippendorff's alpha (nominal, the four outcomes) over the live votes on the
  source's prompts, items = comparisons (imported votes without one: the prompt);
- survival: ``dedup`` = pairs of the source in the latest frozen dataset version / its active
  pairs; ``review`` = reviewed pairs not rejected / reviewed pairs;
- pair support rate: among the source's active, not rejected pairs from a campaign, the share
  whose chosen answer is the campaign's candidate (Wilson interval on the effective size by
  prompt, band and verdict, exactly as the report's slices).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from django.db.models import Count, F, Q, QuerySet

from evalhub.models import Campaign, DataSource, Output, Prompt, Vote
from evalhub.selectors.labels import label_tree, label_tree_rows
from evalhub.selectors.reports import counts as db
from evalhub.selectors.reports.campaign import (
    CampaignCounts,
    campaign_counts,
    report_from_counts,
)
from evalhub.selectors.reports.slices import slice_rows
from evalhub.stats import krippendorff_alpha_nominal
from training.models import DatasetItem, DatasetVersion, PreferencePair
from training.models.pairs import PairSource

NO_SOURCE = 0  # the key of data that points to no source
MIN_USABLE_PAIRS = 50  # below this a label's data is flagged as missing
MIN_DECISIVE_VOTES = 30
HUMAN_PAIR_SOURCES = [s for s in PairSource.values if s != PairSource.AI_JUDGE]


def _by_key(queryset: QuerySet[Any], key: str, **aggregates: Any) -> dict[int, dict[str, int]]:
    rows = queryset.order_by().values(key).annotate(**aggregates)
    return {row[key] or NO_SOURCE: {k: row[k] for k in aggregates} for row in rows}


def live_votes_all() -> QuerySet[Vote]:
    """Votes that count, over every campaign (not superseded, not gold, no excluded rater)."""
    votes = Vote.objects.exclude(pk__in=db.superseded_vote_ids())
    return db.quality_filtered(votes, None).order_by()


def latest_dataset() -> DatasetVersion | None:
    return DatasetVersion.objects.order_by("-created_at", "-id").first()


def _alpha_by(keys: np.ndarray, items: np.ndarray) -> dict[int, float | None]:
    """Krippendorff's alpha of the item rows (W, L, T, B counts) of each key."""
    alphas: dict[int, float | None] = {}
    for key in np.unique(keys).tolist():
        rows = items[keys == key]
        if not (rows.sum(axis=1) >= 2).any():
            alphas[int(key)] = None
            continue
        alpha = krippendorff_alpha_nominal(rows.astype(np.float64))
        alphas[int(key)] = None if np.isnan(alpha) else float(alpha)
    return alphas


def _item_counts_by_source(votes: QuerySet[Vote]) -> tuple[np.ndarray, np.ndarray]:
    """(source per item, W/L/T/B counts per item). The votes are grouped by (prompt, item) in
    the database without a join; each prompt's source is looked up from a second, small query
    (joining a million votes to their prompts in the grouping query took twice as long)."""
    rows = db._rows(
        votes.values_list("prompt_id", "comparison_id").annotate(**db._outcome_counts())
    )
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.int64)
    item_prompt = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    owned = db._rows(
        Prompt.objects.filter(data_source__isnull=False)
        .order_by("id")
        .values_list("id", "data_source_id")
    )
    keys = np.full(len(rows), NO_SOURCE, dtype=np.int64)
    if owned:
        pairs = db._int_matrix(owned, 0, 2)
        at = np.minimum(np.searchsorted(pairs[:, 0], item_prompt), len(pairs) - 1)
        found = pairs[at, 0] == item_prompt
        keys[found] = pairs[at[found], 1]
    return keys, db._int_matrix(rows, 2, 4)


def _pair_support(pairs: QuerySet[PreferencePair], key: str) -> dict[int, dict[str, Any]]:
    """Support rate of pairs per ``key``: the chosen answer is the candidate's (a win)."""
    rows = db._rows(
        pairs.filter(campaign__isnull=False, chosen_output__isnull=False)
        .values_list(key, "prompt_id")
        .annotate(
            wins=Count("pk", filter=Q(chosen_output__model_version_id=F("campaign__candidate_id"))),
            losses=Count(
                "pk", filter=Q(chosen_output__model_version_id=F("campaign__baseline_id"))
            ),
        )
    )
    if not rows:
        return {}
    keys = np.fromiter((row[0] or NO_SOURCE for row in rows), dtype=np.int64, count=len(rows))
    counts = np.zeros((len(rows), 4), dtype=np.int64)
    counts[:, :2] = db._int_matrix(rows, 2, 2)
    unique, code = np.unique(keys, return_inverse=True)
    slices = slice_rows(code.ravel(), counts, len(unique))
    return {int(k): _support_fields(row) for k, row in zip(unique.tolist(), slices, strict=True)}


def _support_fields(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("wins", "losses", "n_decisive", "support_rate", "ci_low", "ci_high", "ci_method")
    return {**{k: row[k] for k in keep}, "band": row["band"], "verdict": row["verdict_text"]}


def source_figures(
    *, campaign: Campaign | None = None, source: DataSource | None = None
) -> list[dict[str, Any]]:
    """One row per registered source (and one for data without a source, when there is any);
    with ``source``, that source's row only (its detail page reads just its own data)."""
    own = Q(data_source=source) if source is not None else Q()
    prompts = _by_key(Prompt.objects.filter(own), "data_source_id", n=Count("pk"))
    outputs = _by_key(Output.objects.filter(own), "data_source_id", n=Count("pk"))
    votes = live_votes_all()
    if campaign is not None:
        votes = votes.filter(campaign=campaign)
    if source is not None:
        votes = votes.filter(prompt__data_source=source)
    item_keys, items = _item_counts_by_source(votes)
    alphas = _alpha_by(item_keys, items)
    (vote_keys,), vote_sums = db.group_sums([item_keys], items)  # votes from the same pass
    vote_counts = {
        int(k): {"n": int(n)} for k, n in zip(vote_keys, vote_sums.sum(axis=1), strict=True)
    }
    pairs = PreferencePair.objects.filter(own, is_active=True)
    if campaign is not None:
        pairs = pairs.filter(campaign=campaign)
    pair_counts = _by_key(
        pairs,
        "data_source_id",
        active=Count("pk"),
        reviewed=Count("pk", filter=~Q(review_status="unreviewed")),
        rejected=Count("pk", filter=Q(review_status="rejected")),
    )
    dataset = latest_dataset()
    in_dataset: dict[int, dict[str, int]] = {}
    if dataset is not None:
        dataset_items = DatasetItem.objects.filter(dataset=dataset, pair__isnull=False)
        if campaign is not None:
            dataset_items = dataset_items.filter(pair__campaign=campaign)
        if source is not None:
            dataset_items = dataset_items.filter(pair__data_source=source)
        in_dataset = _by_key(dataset_items, "pair__data_source_id", n=Count("pk"))
    support = _pair_support(pairs.exclude(review_status="rejected"), "data_source_id")
    registered = DataSource.objects.filter(pk=source.pk) if source else DataSource.objects.all()
    sources: list[tuple[int, DataSource | None]] = [(s.pk, s) for s in registered]
    keyed = (prompts, outputs, vote_counts, pair_counts)
    if source is None and any(NO_SOURCE in counts for counts in keyed):
        sources.append((NO_SOURCE, None))
    rows = []
    for key, row_source in sources:
        pair = pair_counts.get(key, {"active": 0, "reviewed": 0, "rejected": 0})
        kept = in_dataset.get(key, {}).get("n", 0)
        rows.append(
            {
                "source_id": row_source.pk if row_source else None,
                "name": row_source.name if row_source else "(no source)",
                "kind": row_source.kind if row_source else "",
                "quality_grade": row_source.quality_grade if row_source else "",
                "is_active": row_source.is_active if row_source else True,
                "prompts": prompts.get(key, {}).get("n", 0),
                "outputs": outputs.get(key, {}).get("n", 0),
                "votes": vote_counts.get(key, {}).get("n", 0),
                "agreement_alpha": alphas.get(key),
                "pairs_active": pair["active"],
                "pairs_reviewed": pair["reviewed"],
                "pairs_rejected": pair["rejected"],
                "pairs_in_latest_dataset": kept,
                "dedup_survival": kept / pair["active"] if pair["active"] else None,
                "review_survival": (pair["reviewed"] - pair["rejected"]) / pair["reviewed"]
                if pair["reviewed"]
                else None,
                "pair_support": support.get(key),
            }
        )
    return rows


def label_results(
    *,
    campaign: Campaign | None = None,
    min_pairs: int = MIN_USABLE_PAIRS,
    min_decisive: int = MIN_DECISIVE_VOTES,
) -> dict[str, Any]:
    """Per label (the taxonomy tree, depth first): usable data, agreement and support rate."""
    nodes = label_tree_rows(label_tree())
    usable = PreferencePair.objects.filter(is_active=True, source__in=HUMAN_PAIR_SOURCES).exclude(
        review_status="rejected"
    )
    usable_by_label = dict(
        PreferencePair.labels.through.objects.filter(preferencepair__in=usable)
        .order_by()
        .values_list("label_id")
        .annotate(n=Count("pk"))
    )
    dataset = latest_dataset()
    splits: dict[int, dict[str, int]] = defaultdict(dict)
    if dataset is not None:
        for label_id, split, n in (
            DatasetItem.objects.filter(dataset=dataset, pair__isnull=False)
            .order_by()
            .values_list("pair__labels", "split")
            .annotate(n=Count("pk"))
        ):
            if label_id is not None:
                splits[label_id][split] = n
    by_label: dict[int, dict[str, Any]] = {}
    alphas: dict[int, float | None] = {}
    if campaign is not None:
        counts = campaign_counts(campaign)
        report = report_from_counts(campaign, counts, bootstrap=False)
        by_label = {row["label_id"]: row for row in report["by_label"]}
        alphas = _label_alphas(counts)
    rows = []
    for node in nodes:
        result = by_label.get(node.id)
        n_usable = int(usable_by_label.get(node.id, 0))
        decisive = result["n_decisive"] if result else 0
        rows.append(
            {
                "label_id": node.id,
                "name": node.name,
                "depth": node.depth,
                "parent": node.parent_id,
                "n_children": len(node.children),
                "prompts": node.n_prompts,
                "usable_pairs": n_usable,
                "latest_dataset": {s: splits[node.id].get(s, 0) for s in ("train", "val", "test")},
                "votes": result["n_votes"] if result else 0,
                "decisive_votes": decisive,
                "agreement_alpha": alphas.get(node.id),
                "support": _support_fields(result) if result else None,
                "data_missing": n_usable < min_pairs
                or (campaign is not None and decisive < min_decisive),
            }
        )
    _roll_up(rows)
    return {
        "campaign": {"id": campaign.pk, "name": campaign.name} if campaign else None,
        "dataset": {"id": dataset.pk, "name": dataset.name} if dataset else None,
        "thresholds": {"min_usable_pairs": min_pairs, "min_decisive_votes": min_decisive},
        "labels": rows,
    }


def _roll_up(rows: list[dict[str, Any]]) -> None:
    """``subtree_prompts`` / ``subtree_usable_pairs``: the label's own plus its descendants'
    (an item carrying a parent and a child label counts under each)."""
    by_id = {row["label_id"]: row for row in rows}
    for row in rows:
        row["subtree_prompts"], row["subtree_usable_pairs"] = row["prompts"], row["usable_pairs"]
    for row in sorted(rows, key=lambda r: -r["depth"]):
        parent = by_id.get(row["parent"])
        if parent is not None:
            parent["subtree_prompts"] += row["subtree_prompts"]
            parent["subtree_usable_pairs"] += row["subtree_usable_pairs"]


def _label_alphas(counts: CampaignCounts) -> dict[int, float | None]:
    """Krippendorff's alpha per label over the campaign's items, from the counts the report
    already read (per campaign, prompt, item and channel), gathered to labels through the
    prompt-label links: no second pass over the votes."""
    groups = counts.groups
    (_, prompt_of_item), items = db.group_sums([groups.item_id, groups.prompt_id], groups.counts)
    if items.shape[0] == 0:
        return {}
    link_prompt, link_label = counts.label_links
    order = np.argsort(prompt_of_item, kind="stable")
    sorted_prompts = prompt_of_item[order]
    lo = np.searchsorted(sorted_prompts, link_prompt, side="left")
    lengths = np.searchsorted(sorted_prompts, link_prompt, side="right") - lo
    total = int(lengths.sum())
    if total == 0:
        return {}
    starts = np.repeat(lo, lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keys = np.repeat(link_label, lengths)
    return _alpha_by(keys, items[order[starts + offsets]])
