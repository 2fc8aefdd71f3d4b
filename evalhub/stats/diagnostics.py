"""Diagnostics: position bias, workbench slot bias, rater agreement, per-rater outliers (§4.3–4.4, §2.4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest, chisquare, fisher_exact

from evalhub.stats._arrays import FloatArray, as_counts, as_float_array
from evalhub.stats.intervals import wilson_interval
from evalhub.stats.significance import binom_test_two_sided, holm_adjust


@dataclass(frozen=True)
class PositionBias:
    """Left/right position effects among decisive votes (§4.3)."""

    left_picks: int  # votes for whichever answer was shown on the left
    n_decisive: int
    left_share: float | None
    left_share_ci_low: float
    left_share_ci_high: float
    p_value: float  # binomtest(left_picks, n_decisive, ½), two-sided
    support_rate_ft_left: float | None  # W/(W+L) among votes with FT shown on the left
    support_rate_ft_right: float | None
    balanced_support_rate: float | None  # ½(p̂_FT-left + p̂_FT-right)
    interaction_p_value: float  # Fisher on [[W_left, L_left], [W_right, L_right]]


def position_bias(
    wins_ft_left: int,
    losses_ft_left: int,
    wins_ft_right: int,
    losses_ft_right: int,
    *,
    confidence: float = 0.95,
) -> PositionBias:
    """Position-bias test and the position-balanced support rate.

    A left pick is an FT win with FT on the left or a base win with FT on the right. The
    balanced rate equals the pooled one when the assignment is balanced and removes the
    position effect when it is not.
    """
    w_l, l_l = int(as_counts(wins_ft_left, "wins_ft_left")), int(as_counts(losses_ft_left, "l"))
    w_r, l_r = int(as_counts(wins_ft_right, "wins_ft_right")), int(as_counts(losses_ft_right, "l"))
    left = w_l + l_r
    n = w_l + l_l + w_r + l_r
    low, high = wilson_interval(left, n, confidence=confidence)
    p_value = float(binomtest(left, n, 0.5).pvalue) if n else 1.0
    rate_left = w_l / (w_l + l_l) if w_l + l_l else None
    rate_right = w_r / (w_r + l_r) if w_r + l_r else None
    balanced = (
        0.5 * (rate_left + rate_right) if rate_left is not None and rate_right is not None else None
    )
    interaction = float(fisher_exact([[w_l, l_l], [w_r, l_r]]).pvalue) if n else 1.0
    return PositionBias(
        left,
        n,
        left / n if n else None,
        float(low),
        float(high),
        p_value,
        rate_left,
        rate_right,
        balanced,
        interaction,
    )


@dataclass(frozen=True)
class SlotTest:
    """χ² test of uniform slot picks in the 2+2 workbench (df = slots − 1)."""

    slot_picks: tuple[int, ...]
    statistic: float
    df: int
    p_value: float


def workbench_slot_test(slot_picks: ArrayLike) -> SlotTest:
    """``scipy.stats.chisquare`` on the slot-pick counts (four slots: df = 3)."""
    picks = as_counts(slot_picks, "slot_picks").ravel()
    if picks.size < 2 or picks.sum() == 0:
        return SlotTest(tuple(int(x) for x in picks), 0.0, max(0, picks.size - 1), 1.0)
    result = chisquare(picks)
    return SlotTest(
        tuple(int(x) for x in picks),
        float(result.statistic),
        int(picks.size - 1),
        float(result.pvalue),
    )


def value_counts_from_ratings(ratings: ArrayLike) -> FloatArray:
    """Items × categories counts from a raters × items array of category codes (NaN = missing)."""
    data = as_float_array(ratings)
    if data.ndim != 2:
        raise ValueError("ratings must be a 2-D raters × items array")
    present = ~np.isnan(data)
    categories = np.unique(data[present])
    codes = np.searchsorted(
        categories, np.where(present, data, categories[0] if categories.size else 0)
    )
    n_items = data.shape[1]
    flat = (np.arange(n_items)[None, :] * max(1, categories.size) + codes)[present]
    counts = np.bincount(flat, minlength=n_items * max(1, categories.size))
    return counts.reshape(n_items, max(1, categories.size)).astype(np.float64)


def krippendorff_alpha_nominal(
    value_counts: ArrayLike | None = None, *, ratings: ArrayLike | None = None
) -> float:
    """Krippendorff's α for nominal data, any number of raters per item (§4.4).

    Give either ``value_counts`` (items × categories: how many raters put item u in category c)
    or ``ratings`` (raters × items codes with NaN for missing). Items with fewer than two
    ratings cannot be paired and drop out. Vectorised: the coincidence matrix is
    o = Vᵀ diag(1/(m_u − 1)) V − diag(Σ_u V_uc/(m_u − 1)), and
    α = 1 − (n − 1)(n − tr o) / (n² − Σ_c n_c²). NaN when there is no disagreement to expect
    (a single category used, or no pairable item).
    """
    if ratings is not None and value_counts is None:
        counts = value_counts_from_ratings(ratings)
    elif value_counts is not None and ratings is None:
        counts = as_float_array(value_counts)
    else:
        raise ValueError("pass exactly one of value_counts or ratings")
    if counts.ndim != 2:
        raise ValueError("value_counts must be a 2-D items × categories array")
    m = counts.sum(axis=1)
    pairable = m >= 2
    v = counts[pairable]
    inv = 1.0 / (m[pairable] - 1.0)
    o = v.T @ (v * inv[:, None])
    o[np.diag_indices_from(o)] -= inv @ v
    n_c = o.sum(axis=0)
    n = float(n_c.sum())
    expected_disagreement = n * n - float(n_c @ n_c)
    if n <= 1.0 or expected_disagreement <= 0.0:
        return float("nan")
    return float(1.0 - (n - 1.0) * (n - float(np.trace(o))) / expected_disagreement)


@dataclass(frozen=True)
class RaterSummary:
    """Per-rater support rates and outlier flags (binomial test vs pooled, Holm-adjusted)."""

    pooled_support_rate: float | None
    n_decisive: tuple[int, ...]
    support_rate: tuple[float | None, ...]
    p_value: tuple[float, ...]  # exact two-sided binomial test of the rater's W vs pooled rate
    p_value_holm: tuple[float, ...]
    outlier: tuple[bool, ...]
    alpha: float

    @property
    def n_outliers(self) -> int:
        return sum(self.outlier)


def rater_summary(wins: ArrayLike, losses: ArrayLike, *, alpha: float = 0.05) -> RaterSummary:
    """Flag raters whose support rate differs from the pooled rate (§2.4).

    Each rater's W_r out of W_r + L_r is tested against the pooled p̂ (exact two-sided, vectorised
    over raters), p-values are Holm-adjusted across raters with votes, and a rater is an outlier
    when the adjusted p-value is below ``alpha``. Also cap votes per rater upstream.
    """
    w = as_counts(wins, "rater wins").ravel()
    lo = as_counts(losses, "rater losses").ravel()
    if w.shape != lo.shape:
        raise ValueError("rater wins and losses must have the same length")
    n = w + lo
    total = int(n.sum())
    pooled = float(w.sum() / total) if total else None
    rates = tuple(float(a / b) if b else None for a, b in zip(w, n, strict=True))
    if pooled is None:
        ones = tuple(1.0 for _ in n)
        return RaterSummary(
            None, tuple(int(x) for x in n), rates, ones, ones, (False,) * n.size, alpha
        )
    p = binom_test_two_sided(w, n, pooled)
    has_votes = n > 0
    adjusted = np.ones_like(p)
    adjusted[has_votes] = holm_adjust(p[has_votes])
    return RaterSummary(
        pooled,
        tuple(int(x) for x in n),
        rates,
        tuple(float(x) for x in p),
        tuple(float(x) for x in adjusted),
        tuple(bool(x) for x in adjusted < alpha),
        alpha,
    )
