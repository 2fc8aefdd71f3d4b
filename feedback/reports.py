"""Feedback figures for PMs: thumbs campaigns and workbench campaigns (plain JSON-ready dicts).

``thumbs_report(campaign)`` compares the thumbs-up rates of the candidate and the baseline
(STATS.md 4.2): each rate with its Wilson interval; paired by prompt where both models' answers
to one prompt were thumbed (exact McNemar test, Tango interval of the difference); the
independent-samples comparison over all thumbs (Newcombe interval, Boschloo's exact test, or the
pooled score test for large samples). It is not a support rate: no bands, no verdict.

``workbench_report(campaign)`` is the 2+2 workbench's support rate (STATS.md 1.4): the share of
picks that went to a candidate suggestion, with its interval and verdict; "none usable" left out
of the rate and reported beside it; slot bias (chi-square over the 4 slots); edit rate per
source; time to pick; generation health. The database aggregates, ``evalhub.stats`` computes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from django.db.models import Count, Q

from evalhub.models import Campaign
from evalhub.stats import (
    support_rate_report,
    thumbs_paired,
    thumbs_unpaired,
    wilson_interval,
    workbench_slot_test,
)
from evalhub.stats.bands import describe_verdict
from feedback.models import Thumb, WorkbenchTurn
from feedback.models.common import Source

CONFIDENCE = 0.95
SIDES = (Source.CANDIDATE, Source.BASELINE)
SLOT_BIAS_ALPHA = 0.05


def _rate(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(k, n, confidence=CONFIDENCE)
    return {
        "k": k,
        "n": n,
        "rate": k / n if n else None,
        "ci_low": float(low),
        "ci_high": float(high),
    }


def _campaign_head(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaign": campaign.name,
        "campaign_id": campaign.pk,
        "kind": campaign.kind,
        "status": campaign.status,
        "baseline": campaign.baseline.name,
        "candidate": campaign.candidate.name,
        "confidence": CONFIDENCE,
    }


# -- thumbs ----------------------------------------------------------------------------------


def _thumb_counts(campaign: Campaign) -> dict[tuple[str, int, str], tuple[int, int]]:
    """(side, prompt, channel) -> (ups, n) over the current thumbs (one query)."""
    sides = {campaign.candidate_id: Source.CANDIDATE, campaign.baseline_id: Source.BASELINE}
    rows = (
        Thumb.objects.filter(campaign=campaign, is_current=True)
        .values("output__model_version_id", "output__prompt_id", "channel")
        .annotate(n=Count("pk"), ups=Count("pk", filter=Q(value=Thumb.Value.UP)))
        .order_by()
    )
    counts: dict[tuple[str, int, str], tuple[int, int]] = {}
    for row in rows:
        side = sides.get(row["output__model_version_id"])
        if side is not None:
            key = (side, row["output__prompt_id"], row["channel"])
            counts[key] = (row["ups"], row["n"])
    return counts


def _paired(per_prompt: dict[str, dict[int, list[int]]]) -> dict[str, Any]:
    """Prompts thumbed on both sides; each side's prompt-level thumb is its majority."""
    table = {"both_up": 0, "candidate_only_up": 0, "baseline_only_up": 0, "both_down": 0}
    tied = thumbs = 0
    for prompt in per_prompt[Source.CANDIDATE].keys() & per_prompt[Source.BASELINE].keys():
        votes = [per_prompt[side][prompt] for side in SIDES]
        if any(2 * ups == n for ups, n in votes):
            tied += 1
            continue
        thumbs += sum(n for _, n in votes)
        up_ft, up_base = (2 * ups > n for ups, n in votes)
        key = {
            (True, True): "both_up",
            (True, False): "candidate_only_up",
            (False, True): "baseline_only_up",
            (False, False): "both_down",
        }[(up_ft, up_base)]
        table[key] += 1
    result = thumbs_paired(
        table["both_up"],
        table["candidate_only_up"],
        table["baseline_only_up"],
        table["both_down"],
        confidence=CONFIDENCE,
    )
    return {
        **table,
        "n_pairs": result.n_pairs,
        "n_thumbs": thumbs,
        "prompts_left_out_tied": tied,
        "rate_candidate": result.rate_ft,
        "rate_baseline": result.rate_base,
        "difference": result.difference,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "ci_method": "tango",
        "p_value": result.p_value,
        "test": "mcnemar_exact",
    }


def _unpaired(models: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    ft, base = models[Source.CANDIDATE], models[Source.BASELINE]
    if not ft["n"] or not base["n"]:
        return None
    result = thumbs_unpaired(ft["ups"], ft["n"], base["ups"], base["n"], confidence=CONFIDENCE)
    return {
        "difference": result.difference,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "ci_method": "newcombe",
        "p_value": result.p_value,
        "test": result.test,
    }


def _thumbs_sentence(report: dict[str, Any]) -> str:
    main = report["paired"] if report["comparison"] == "paired" else report["unpaired"]
    if main is None or main["difference"] is None:
        return "Not enough thumbs on both models to compare them yet."
    direction = "higher" if main["difference"] > 0 else "lower"
    return (
        f"The candidate's thumbs-up rate is {abs(main['difference']) * 100:.1f} points {direction} "
        f"than the baseline's ({report['comparison']}: {CONFIDENCE:.0%} CI "
        f"{main['ci_low'] * 100:+.1f} to {main['ci_high'] * 100:+.1f} points, p = "
        f"{main['p_value']:.3g})."
    )


def thumbs_report(campaign: Campaign) -> dict[str, Any]:
    """Thumbs figures of a thumbs campaign (see the module docstring)."""
    counts = _thumb_counts(campaign)
    per_prompt: dict[str, dict[int, list[int]]] = {
        side: defaultdict(lambda: [0, 0]) for side in SIDES
    }
    per_channel: dict[str, dict[str, list[int]]] = defaultdict(lambda: {s: [0, 0] for s in SIDES})
    for (side, prompt, channel), (ups, n) in counts.items():
        for bucket in (per_prompt[side][prompt], per_channel[channel][side]):
            bucket[0] += ups
            bucket[1] += n
    models = {}
    for side in SIDES:
        ups = sum(ups for ups, _ in per_prompt[side].values())
        n = sum(n for _, n in per_prompt[side].values())
        rate = _rate(ups, n)
        models[side] = {
            "name": getattr(campaign, side).name,
            "ups": ups,
            "downs": n - ups,
            "n": n,
            "prompts": len(per_prompt[side]),
            **{k: rate[k] for k in ("rate", "ci_low", "ci_high")},
        }
    paired = _paired(per_prompt)
    n_thumbs = models[Source.CANDIDATE]["n"] + models[Source.BASELINE]["n"]
    use_paired = paired["n_pairs"] > 0 and 2 * paired["n_thumbs"] >= n_thumbs
    report: dict[str, Any] = {
        **_campaign_head(campaign),
        "n_thumbs": n_thumbs,
        "models": models,
        "paired": paired,
        "unpaired": _unpaired(models),
        "comparison": "paired" if use_paired else "unpaired",
        "by_channel": [
            {
                "channel": channel or "(none)",
                **{
                    f"{side}_{k}": v
                    for side in SIDES
                    for k, v in _rate(*per_channel[channel][side]).items()
                },
            }
            for channel in sorted(per_channel)
        ],
        "note": "A difference of two thumbs-up rates: not a support rate, so no bands.",
    }
    report["summary"] = _thumbs_sentence(report)
    return report


# -- workbench -------------------------------------------------------------------------------


def _workbench_rows(campaign: Campaign) -> Any:
    return WorkbenchTurn.objects.filter(
        conversation__campaign=campaign, status=WorkbenchTurn.Status.SENT
    ).exclude(layout="")


def _per_prompt_counts(turns: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = (
        turns.values("conversation__prompt_id", "picked_source").annotate(n=Count("pk")).order_by()
    )
    cells: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    column = {Source.CANDIDATE: 0, Source.BASELINE: 1, "": 2}
    for row in rows:
        cells[row["conversation__prompt_id"]][column[row["picked_source"]]] += row["n"]
    table = np.array(list(cells.values()), dtype=np.int64).reshape(-1, 3)
    return table[:, 0], table[:, 1], table[:, 2]


def _per_agent(turns: Any) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    rows = turns.values("agent__username", "picked_source").annotate(n=Count("pk")).order_by()
    agents: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    column = {Source.CANDIDATE: 0, Source.BASELINE: 1, "": 2}
    for row in rows:
        agents[row["agent__username"]][column[row["picked_source"]]] += row["n"]
    table = [
        {"agent": name, "candidate_picks": w, "baseline_picks": lo, "none_usable": b,
         **{k: v for k, v in _rate(w, w + lo).items() if k in ("rate", "ci_low", "ci_high")}}
        for name, (w, lo, b) in sorted(agents.items())
    ]  # fmt: skip
    wins = np.array([row["candidate_picks"] for row in table], dtype=np.int64)
    losses = np.array([row["baseline_picks"] for row in table], dtype=np.int64)
    return table, wins, losses


def _edits(turns: Any) -> dict[str, dict[str, Any]]:
    rows = (
        turns.exclude(picked_source="")
        .values("picked_source")
        .annotate(n=Count("pk"), edited=Count("pk", filter=Q(edit_distance__gt=0)))
        .order_by()
    )
    found = {row["picked_source"]: row for row in rows}
    distances: dict[str, list[int]] = defaultdict(list)
    for source, distance in turns.exclude(picked_source="").values_list(
        "picked_source", "edit_distance"
    ):
        distances[source].append(distance or 0)
    edits = {}
    for side in SIDES:
        row = found.get(side, {"n": 0, "edited": 0})
        rate = _rate(row["edited"], row["n"])
        values = np.array(distances[side] or [0])
        edits[side] = {
            "picks": row["n"],
            "edited": row["edited"],
            "edit_rate": rate["rate"],
            "ci_low": rate["ci_low"],
            "ci_high": rate["ci_high"],
            "mean_edit_distance": float(values.mean()) if distances[side] else None,
            "median_edit_distance": float(np.median(values)) if distances[side] else None,
        }
    return edits


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p95": None}
    array = np.asarray(values, dtype=float)
    return {
        "n": len(values),
        **{f"p{q}": float(np.percentile(array, q)) for q in (50, 90, 95)},
    }


def workbench_report(campaign: Campaign) -> dict[str, Any]:
    """Workbench figures of a workbench campaign (see the module docstring)."""
    turns = _workbench_rows(campaign)
    wins, losses, none_usable = _per_prompt_counts(turns)
    slot_rows = dict(
        turns.exclude(picked_slot=None)
        .values_list("picked_slot")
        .annotate(n=Count("pk"))
        .order_by()
    )
    slots = [int(slot_rows.get(slot, 0)) for slot in (1, 2, 3, 4)]
    agents, agent_wins, agent_losses = _per_agent(turns)
    support = support_rate_report(
        wins,
        losses,
        0,
        none_usable,
        confidence=CONFIDENCE,
        slot_picks=slots,
        rater_wins=agent_wins if len(agents) > 1 else None,
        rater_losses=agent_losses if len(agents) > 1 else None,
    ).to_dict()
    picks, nones = int(wins.sum() + losses.sum()), int(none_usable.sum())
    slot_test = workbench_slot_test(slots)
    times = list(
        turns.exclude(time_to_pick_ms=None).values_list("picked_source", "time_to_pick_ms")
    )
    all_turns = WorkbenchTurn.objects.filter(conversation__campaign=campaign)
    health = all_turns.aggregate(
        opened=Count("pk"),
        failed_now=Count("pk", filter=Q(status=WorkbenchTurn.Status.FAILED)),
        sent_without_suggestions=Count("pk", filter=Q(status=WorkbenchTurn.Status.SENT, layout="")),
    )
    generation_ms = [
        ms for ms in all_turns.exclude(generation_ms=None).values_list("generation_ms", flat=True)
    ]
    layouts = dict(turns.values_list("layout").annotate(n=Count("pk")).order_by())
    report = {
        **_campaign_head(campaign),
        "support": {
            **support,
            "verdict_text": describe_verdict(
                support["verdict"], support["ci_low"], support["ci_high"], CONFIDENCE
            ),
        },
        "n_turns": picks + nones,
        "candidate_picks": int(wins.sum()),
        "baseline_picks": int(losses.sum()),
        "none_usable": {**_rate(nones, picks + nones)},
        "slots": {
            "picks": slots,
            "chi_square": slot_test.statistic,
            "df": slot_test.df,
            "p_value": slot_test.p_value,
            "bias_detected": slot_test.p_value < SLOT_BIAS_ALPHA,
        },
        "layouts": {layout: int(n) for layout, n in sorted(layouts.items())},
        "edits": _edits(turns),
        "time_to_pick_ms": {
            "all": _percentiles([ms for _, ms in times]),
            **{side: _percentiles([ms for s, ms in times if s == side]) for side in SIDES},
        },
        "generation": {**health, "latency_ms": _percentiles(generation_ms)},
        "by_agent": agents,
    }
    report["summary"] = _workbench_sentence(report)
    return report


def _workbench_sentence(report: dict[str, Any]) -> str:
    support, none = report["support"], report["none_usable"]
    if support["support_rate"] is None:
        return "No reply has been sent from the workbench's suggestions yet."
    slots = "agents favour some slots" if report["slots"]["bias_detected"] else "no slot bias"
    return (
        f"Agents picked the candidate's suggestion in {support['support_rate']:.1%} of "
        f"{support['n_decisive']} picks: {support['verdict_text']}. None usable in "
        f"{none['rate']:.1%} of {none['n']} replies; {slots} (p = {report['slots']['p_value']:.3g})."
    )
