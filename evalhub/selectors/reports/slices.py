"""Support-rate rows for many slices at once (labels, channels, campaigns), from per-prompt counts.

A slice row applies the same rule as ``evalhub.stats.support_rate_report`` with its defaults
(``interval='auto'``, δ = 0.05): Wilson on n_eff = n / D̂eff when the slice's prompts carry several
decisive votes, else Wilson; the exact two-sided sign test; the band verdict on that interval.
The full report costs ~15 ms per call (Tango, Clopper–Pearson, planning search), so dozens of
slices use the vectorised interval and test functions of the stats package instead; the tests
check the two agree slice by slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalhub.stats import (
    DEFAULT_BANDS,
    beta_binomial_cs,
    binom_test_two_sided,
    describe_verdict,
    design_effect,
    log10_sign_test_p_value,
    votes_to_settle,
    wilson_interval,
)
from evalhub.stats._arrays import IntArray
from evalhub.stats.significance import score_z

CONFIDENCE = 0.95


def slice_rows(
    slice_index: IntArray,
    counts: IntArray,
    n_slices: int,
    *,
    planning: bool = False,
) -> list[dict[str, Any]]:
    """One dict per slice 0..n_slices−1 from (slice, prompt) rows of W, L, T, B counts.

    ``slice_index[i]`` says which slice row ``i`` (one prompt's counts) belongs to. With
    ``planning`` each row also says how many more votes would settle its verdict.
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 4)
    order = np.argsort(slice_index, kind="stable")
    bounds = np.searchsorted(slice_index[order], np.arange(n_slices + 1))
    totals = np.zeros((n_slices, 4), dtype=np.int64)
    deff = np.ones(n_slices)
    clustered = np.zeros(n_slices, dtype=bool)
    n_prompts = np.zeros(n_slices, dtype=np.int64)
    for s in range(n_slices):  # one pass per slice over its prompts (not over votes)
        rows = counts[order[bounds[s] : bounds[s + 1]]]
        totals[s] = rows.sum(axis=0)
        n_prompts[s] = int(np.count_nonzero(rows.sum(axis=1)))
        effect = design_effect(rows[:, 0], rows[:, 0] + rows[:, 1])
        clustered[s] = effect.clustered
        deff[s] = effect.design_effect if effect.clustered else 1.0
    return _rows(totals, deff, clustered, n_prompts, planning=planning)


def _rows(
    totals: IntArray,
    deff: np.ndarray,
    clustered: np.ndarray,
    n_prompts: IntArray,
    *,
    planning: bool,
) -> list[dict[str, Any]]:
    w, lo, t, b = (totals[:, i] for i in range(4))
    n = w + lo
    total = n + t + b
    n_eff = n / deff
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, w / np.maximum(n, 1), 0.0)
    ci_low, ci_high = wilson_interval(
        np.where(clustered, rate * n_eff, w), np.where(clustered, n_eff, n), confidence=CONFIDENCE
    )
    p_value = binom_test_two_sided(w, n, 0.5)
    z = score_z(rate * n_eff, n_eff)
    cs_low, cs_high = beta_binomial_cs(w, lo, alpha=1.0 - CONFIDENCE)
    tie_low, tie_high = wilson_interval(t, total, confidence=CONFIDENCE)
    bb_low, bb_high = wilson_interval(b, total, confidence=CONFIDENCE)
    rows = []
    for s in range(totals.shape[0]):
        ns, ws, ls = int(n[s]), int(w[s]), int(lo[s])
        verdict = DEFAULT_BANDS.verdict(float(ci_low[s]), float(ci_high[s]), ns)
        anytime = DEFAULT_BANDS.verdict(float(cs_low[s]), float(cs_high[s]), ns)
        p = float(p_value[s])
        row: dict[str, Any] = {
            "n_votes": int(total[s]),
            "wins": ws,
            "losses": ls,
            "ties": int(t[s]),
            "both_bad": int(b[s]),
            "n_decisive": ns,
            "n_prompts": int(n_prompts[s]),
            "support_rate": ws / ns if ns else None,
            "ci_low": float(ci_low[s]),
            "ci_high": float(ci_high[s]),
            "ci_method": "wilson_neff" if clustered[s] else "wilson",
            "confidence": CONFIDENCE,
            "p_value": p,
            "log10_p": _log10_p(ws, ls, p),
            "band": DEFAULT_BANDS.band_of_rate(ws, ls),
            "verdict": verdict,
            "verdict_text": describe_verdict(verdict, ci_low[s], ci_high[s], CONFIDENCE),
            "anytime_ci_low": float(cs_low[s]),
            "anytime_ci_high": float(cs_high[s]),
            "anytime_verdict": anytime,
            "design_effect": float(deff[s]),
            "n_eff": float(n_eff[s]),
            "z": float(z[s]),
            "tie_rate": int(t[s]) / int(total[s]) if total[s] else None,
            "tie_rate_ci_low": float(tie_low[s]),
            "tie_rate_ci_high": float(tie_high[s]),
            "both_bad_rate": int(b[s]) / int(total[s]) if total[s] else None,
            "both_bad_rate_ci_low": float(bb_low[s]),
            "both_bad_rate_ci_high": float(bb_high[s]),
        }
        if planning:
            plan = votes_to_settle(
                ws, ls, int(t[s]), int(b[s]), design_effect=float(deff[s]), confidence=CONFIDENCE
            )
            row["additional_votes"] = plan.additional_votes_at_phat
            row["additional_decisive_votes"] = plan.additional_decisive_at_phat
        rows.append(row)
    return rows


def _log10_p(wins: int, losses: int, p_value: float) -> float:
    if p_value > 0.0:
        return min(0.0, math.log10(p_value))
    return float(log10_sign_test_p_value(wins, losses, p_value))  # underflow: log space


def by_evidence(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strongest evidence first: |z| on the effective sample size, then more decisive votes."""
    return sorted(rows, key=lambda r: (-abs(r["z"]), -r["n_eff"], str(r.get("slice", ""))))
