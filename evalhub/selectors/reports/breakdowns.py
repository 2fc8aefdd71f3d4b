"""Report sections computed from fetched counts (no database access): position bias,
agreement, and the per-label / channel / rater / day tables."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Any

import numpy as np

from evalhub.selectors.reports import counts as db
from evalhub.selectors.reports.slices import CONFIDENCE, by_evidence, slice_rows
from evalhub.stats import (
    anytime_p_values,
    beta_binomial_cs,
    krippendorff_alpha_nominal,
    position_bias,
    wilson_interval,
)
from evalhub.stats.diagnostics import RaterSummary


def position(groups: db.VoteGroups) -> dict[str, Any] | None:
    (w_left, l_left), (w_right, l_right) = groups.ft_left.sum(axis=0), groups.ft_right.sum(axis=0)
    if w_left + l_left + w_right + l_right == 0:
        return None
    bias = position_bias(
        int(w_left), int(l_left), int(w_right), int(l_right), confidence=CONFIDENCE
    )
    return dataclasses.asdict(bias)


def agreement(per_item: np.ndarray, alpha: float | None) -> dict[str, Any]:
    """Krippendorff's α over items (comparisons) on the four outcomes and on the direction."""
    items = per_item.reshape(-1, 4)
    pairable = items.sum(axis=1) >= 2
    direction = np.column_stack([items[:, 0], items[:, 1], items[:, 2] + items[:, 3]])
    return {
        "krippendorff_alpha": alpha,
        "krippendorff_alpha_direction": krippendorff_alpha_nominal(direction.astype(np.float64))
        if pairable.any()
        else None,
        "n_items": int(items.shape[0]),
        "n_pairable_items": int(pairable.sum()),
        "n_pairable_votes": int(items[pairable].sum()),
        "categories": ["candidate", "baseline", "tie", "both_bad"],
    }


def by_label(
    groups: db.LabelGroups, names: dict[int, tuple[str, str | None]]
) -> list[dict[str, Any]]:
    label_ids, code = np.unique(groups.label_id, return_inverse=True)
    rows = slice_rows(code.ravel(), groups.counts, len(label_ids))
    for label_id, row in zip(label_ids.tolist(), rows, strict=True):
        name, parent = names.get(label_id, (f"label {label_id}", None))
        row.update(slice=name, label=name, label_id=label_id, parent=parent)
    return by_evidence(rows)


def by_channel(groups: db.VoteGroups) -> list[dict[str, Any]]:
    (code, _), summed = db.group_sums([groups.channel, groups.prompt_id], groups.counts)
    rows = slice_rows(code, summed, len(groups.channels))
    for channel, row in zip(groups.channels, rows, strict=True):
        row.update(slice=channel or "(none)", channel=channel)
    return by_evidence(rows)


def by_rater(
    raters: db.RaterGroups,
    summary: RaterSummary | None,
    usernames: dict[int, str],
    majority: list[tuple[int | None, str, int, int]],
    time_histogram: list[tuple[int | None, str, int, int]],
) -> list[dict[str, Any]]:
    """Per rater: votes, rate, outlier flag, agreement with the majority, left picks, time."""
    keys = list(zip(raters.rater_id, raters.judge, strict=True))
    agreement = {(r, j): (pairable, agree) for r, j, pairable, agree in majority}
    medians = _median_seconds(time_histogram)
    w, lo = raters.counts[:, 0], raters.counts[:, 1]
    ci_low, ci_high = wilson_interval(w, w + lo, confidence=CONFIDENCE)
    rows = []
    for i, key in enumerate(keys):
        rater_id, judge = key
        pairable, agree = agreement.get(key, (0, 0))
        n = int(w[i] + lo[i])
        sided = int(raters.sided[i])
        rows.append(
            {
                "slice": usernames.get(rater_id) or judge or "(unknown)",
                "rater": usernames.get(rater_id) or judge or "(unknown)",
                "rater_id": rater_id,
                "judge": judge,
                "n_votes": int(raters.counts[i].sum()),
                "wins": int(w[i]),
                "losses": int(lo[i]),
                "ties": int(raters.counts[i, 2]),
                "both_bad": int(raters.counts[i, 3]),
                "n_decisive": n,
                "support_rate": int(w[i]) / n if n else None,
                "ci_low": float(ci_low[i]),
                "ci_high": float(ci_high[i]),
                "p_value_vs_pooled": summary.p_value[i] if summary else None,
                "p_value_holm": summary.p_value_holm[i] if summary else None,
                "outlier": bool(summary.outlier[i]) if summary else False,
                "left_pick_share": int(raters.left_picks[i]) / sided if sided else None,
                "n_sided": sided,
                "agreement_with_majority": agree / pairable if pairable else None,
                "n_pairable": pairable,
                "median_time_s": medians.get(key),
            }
        )
    return sorted(rows, key=lambda r: (-r["n_votes"], r["rater"]))


def _median_seconds(
    histogram: list[tuple[int | None, str, int, int]],
) -> dict[tuple[int | None, str], float]:
    """Median seconds per rater from whole-second buckets, interpolated inside the bucket."""
    per_rater: dict[tuple[int | None, str], list[tuple[int, int]]] = {}
    for rater_id, judge, second, n in histogram:
        per_rater.setdefault((rater_id, judge), []).append((int(second), int(n)))
    medians = {}
    for key, buckets in per_rater.items():
        seconds, n = (np.asarray(col) for col in zip(*sorted(buckets), strict=True))
        cumulative = np.cumsum(n)
        half = cumulative[-1] / 2.0
        i = int(np.searchsorted(cumulative, half))
        before = cumulative[i - 1] if i else 0
        medians[key] = float(seconds[i] + (half - before) / n[i])
    return medians


def by_day(days: db.DayGroups) -> list[dict[str, Any]]:
    """Per day, with the cumulative rate, its fixed-n interval and the confidence sequence."""
    if not days.day:
        return []
    counts = days.counts
    cumulative = np.cumsum(counts, axis=0)
    cw, cl = cumulative[:, 0], cumulative[:, 1]
    fixed_low, fixed_high = wilson_interval(cw, cw + cl, confidence=CONFIDENCE)
    cs_low, cs_high = beta_binomial_cs(cw, cl, alpha=1.0 - CONFIDENCE)
    running_low, running_high = np.maximum.accumulate(cs_low), np.minimum.accumulate(cs_high)
    p_any = anytime_p_values(cw, cl)
    rows = []
    for i, day in enumerate(days.day):
        n_day = int(counts[i, 0] + counts[i, 1])
        n_cum = int(cw[i] + cl[i])
        rows.append(
            {
                "slice": day.isoformat(),
                "day": day.isoformat(),
                "n_votes": int(counts[i].sum()),
                "wins": int(counts[i, 0]),
                "losses": int(counts[i, 1]),
                "ties": int(counts[i, 2]),
                "both_bad": int(counts[i, 3]),
                "support_rate": int(counts[i, 0]) / n_day if n_day else None,
                "cum_n_votes": int(cumulative[i].sum()),
                "cum_wins": int(cw[i]),
                "cum_losses": int(cl[i]),
                "cum_support_rate": int(cw[i]) / n_cum if n_cum else None,
                "cum_ci_low": float(fixed_low[i]),
                "cum_ci_high": float(fixed_high[i]),
                "anytime_ci_low": float(cs_low[i]),
                "anytime_ci_high": float(cs_high[i]),
                "anytime_running_low": float(running_low[i]),
                "anytime_running_high": float(running_high[i]),
                "anytime_p_value": float(p_any[i]),
            }
        )
    return rows


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN / ±inf to None, datetimes to ISO strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
