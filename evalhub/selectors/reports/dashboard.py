"""Reads for the PM dashboard: every campaign's headline in a fixed number of queries, and the
Bradley–Terry leaderboard of a model lineage."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Count

from evalhub.models import Campaign, ModelVersion
from evalhub.selectors.reports import counts as db
from evalhub.selectors.reports.slices import slice_rows
from evalhub.stats import bradley_terry

LEADERBOARD_RESAMPLES = 1000


def campaign_summaries() -> list[dict[str, Any]]:
    """Each campaign with its support rate, interval, verdict and votes still needed (3 queries)."""
    campaigns = list(
        Campaign.objects.select_related("baseline", "candidate")
        .annotate(n_comparisons=Count("comparisons"))
        .order_by("-created_at", "-id")
    )
    campaign_ids, _prompts, counts, simulated_per_prompt = db.prompt_counts(
        [c.pk for c in campaigns]
    )
    index = {c.pk: i for i, c in enumerate(campaigns)}
    slice_index = np.array([index[int(c)] for c in campaign_ids], dtype=np.int64)
    rows = slice_rows(slice_index, counts, len(campaigns), planning=True)
    simulated = np.bincount(slice_index, weights=simulated_per_prompt, minlength=len(campaigns))
    summaries = []
    for i, (campaign, row) in enumerate(zip(campaigns, rows, strict=True)):
        planned = campaign.n_comparisons * campaign.votes_per_prompt
        row.update(
            campaign=campaign,
            planned_votes=planned,
            planned_votes_left=max(0, planned - row["n_votes"]),
            n_simulated=int(simulated[i]),
        )
        summaries.append(row)
    return summaries


def _lineage_root(model_id: int, parents: dict[int, int | None]) -> int:
    seen = {model_id}
    while (parent := parents.get(model_id)) is not None and parent not in seen:
        seen.add(parent)
        model_id = parent
    return model_id


def lineage_leaderboard(campaign: Campaign, *, seed: int = 0) -> dict[str, Any] | None:
    """Bradley–Terry ratings of the versions in the campaign's model lineage, when several of
    them have been compared across campaigns (wins summed per model pair over campaigns).

    Ties and both-bad are left out, as in the support rate, so an Elo gap maps onto the bands
    (0.70 ⇔ +147). Elo is anchored at the lineage's base model = 1000 (or the campaign's baseline
    when the base was never compared). ``None`` when fewer than three versions or two pairs.
    """
    models = {
        pk: (parent, name)
        for pk, parent, name in ModelVersion.objects.values_list("pk", "parent_id", "name")
    }
    parents = {pk: parent for pk, (parent, _) in models.items()}
    root = _lineage_root(campaign.baseline_id, parents)
    if _lineage_root(campaign.candidate_id, parents) != root:
        return None
    lineage = [pk for pk in models if _lineage_root(pk, parents) == root]
    cells = db.model_pair_cells(lineage)
    keep = cells.counts[:, 0] + cells.counts[:, 1] > 0
    compared = np.unique(np.concatenate([cells.candidate_id[keep], cells.baseline_id[keep]]))
    n_pairs = len(
        {
            tuple(sorted(p))
            for p in zip(
                cells.candidate_id[keep].tolist(), cells.baseline_id[keep].tolist(), strict=True
            )
        }
    )
    if compared.size < 3 or n_pairs < 2:
        return None
    position = {int(pk): i for i, pk in enumerate(compared.tolist())}
    anchor_id = root if root in position else campaign.baseline_id
    fit_args = {
        "names": [models[pk][1] for pk in compared.tolist()],
        "anchor": position.get(anchor_id, 0),
        "tie_mode": "drop",
        "bootstrap_resamples": LEADERBOARD_RESAMPLES,
        "rng": seed,
    }
    a = np.array([position[int(x)] for x in cells.candidate_id[keep]], dtype=np.int64)
    b = np.array([position[int(x)] for x in cells.baseline_id[keep]], dtype=np.int64)
    wins, losses = cells.counts[keep, 0], cells.counts[keep, 1]
    board = bradley_terry(a, b, wins, losses, **fit_args)
    ridge = 0.0
    if not board.mle_exists:  # an undefeated or winless version: one virtual tie per pair
        ridge = 1.0
        board = bradley_terry(a, b, wins, losses, virtual_ties=ridge, **fit_args)
    rows = board.to_rows()
    for row in rows:
        row["is_campaign_model"] = row["model"] in (campaign.baseline.name, campaign.candidate.name)
    return {
        "rows": rows,
        "anchor": board.names[board.anchor],
        "n_battles": board.n_battles,
        "n_models": len(board.names),
        "ties": "dropped (ties and both-bad left out, as in the support rate)",
        "virtual_ties_per_pair": ridge,
        "bootstrap_ridged": board.bootstrap_ridged,  # draws without an MLE, fitted with a ridge
        "bootstrap_resamples": board.bootstrap_resamples,
        "confidence": board.confidence,
    }
