"""Significance of a support rate against 50% (STATS.md §1.5, §3.3, §4.1).

Ties and both-bad carry no direction, so the test is the exact conditional sign test of W out of
W + L against ½ (``scipy.stats.binomtest``). With n = 0 every p-value is 1.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp
from scipy.stats import binom, binomtest, norm

from evalhub.stats._arrays import FloatArray, as_counts, as_float_array

_LN10 = math.log(10.0)
# Below this the binomtest p-value is subnormal or close to it: switch to log-space.
_LOG_SPACE_BELOW = 1e-200
# Tail terms further than this (in natural log) below the largest one do not move log10 p.
_LOG_TAIL_WINDOW = 60.0


@dataclass(frozen=True)
class SignTest:
    """Exact and score tests of W out of W + L against ½."""

    wins: int
    losses: int
    p_value: float  # exact two-sided (binomtest, 'minlike' = 2 × smaller tail at ½)
    p_value_greater: float  # exact one-sided, H1: p > ½ (only when pre-registered)
    log10_p: float  # log10 of the two-sided exact p-value; finite when p underflows to 0
    z_score: float  # score statistic 2(p̂ − ½)√n (0 when n = 0)
    p_value_score: float  # two-sided normal p-value of the score test (inverts Wilson)


def sign_test(wins: int, losses: int) -> SignTest:
    """Exact two-sided and one-sided binomial tests plus the score test, with n = 0 guarded."""
    w = int(as_counts(wins, "wins"))
    lo = int(as_counts(losses, "losses"))
    n = w + lo
    if n == 0:
        return SignTest(w, lo, 1.0, 1.0, 0.0, 0.0, 1.0)
    p_two = float(binomtest(w, n, 0.5, alternative="two-sided").pvalue)
    p_greater = float(binomtest(w, n, 0.5, alternative="greater").pvalue)
    z = float(score_z(w, n))
    p_score = float(2.0 * norm.sf(abs(z)))
    return SignTest(w, lo, p_two, p_greater, log10_sign_test_p_value(w, lo, p_two), z, p_score)


def log10_sign_test_p_value(wins: int, losses: int, p_value: float | None = None) -> float:
    """log10 of the exact two-sided sign-test p-value, valid where the p-value underflows.

    log10 p = log10 2 + log10 P(X ≤ min(W, L)), the tail summed with log-sum-exp over
    ``binom.logpmf`` (§1.5), capped at 0. ``binom.logcdf`` underflows there too. When the
    ordinary p-value is comfortably representable, its log10 is used directly.
    """
    n = wins + losses
    if n == 0:
        return 0.0
    if p_value is None:
        p_value = float(binomtest(wins, n, 0.5).pvalue)
    if p_value >= _LOG_SPACE_BELOW:
        return min(0.0, math.log10(p_value))
    m = min(wins, losses)
    # The pmf increases up to k = m (< n/2); terms fall at least geometrically by the
    # ratio m/(n − m + 1) going down, so only a window below m matters.
    ratio = m / (n - m + 1)
    window = math.ceil(_LOG_TAIL_WINDOW / -math.log(ratio)) + 2 if 0 < ratio < 1 else m + 1
    ks = np.arange(max(0, m - window), m + 1)
    log_tail = float(logsumexp(binom.logpmf(ks, n, 0.5)))
    return min(0.0, (math.log(2.0) + log_tail) / _LN10)


def score_z(wins: ArrayLike, n: ArrayLike) -> FloatArray:
    """Score statistic z = 2(p̂ − ½)√n against ½; n may be an effective sample size n_eff."""
    w_arr, n_arr = np.broadcast_arrays(as_float_array(wins), as_float_array(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 2.0 * (w_arr / n_arr - 0.5) * np.sqrt(n_arr)
    return np.where(n_arr > 0, z, 0.0)


def score_test_p_value(support_rate: ArrayLike, n: ArrayLike) -> FloatArray:
    """Two-sided score-test p-value for H0: p = ½ at rate p̂ and (effective) size n (§2.2)."""
    p_arr, n_arr = np.broadcast_arrays(as_float_array(support_rate), as_float_array(n))
    z = score_z(p_arr * n_arr, n_arr)
    return np.asarray(2.0 * norm.sf(np.abs(z)), dtype=np.float64)


def binom_test_two_sided(k: ArrayLike, n: ArrayLike, p0: ArrayLike) -> FloatArray:
    """Vectorised exact two-sided binomial test ('minlike', as ``scipy.stats.binomtest``).

    Sums the probabilities of all outcomes no more likely than the observed one (with scipy's
    relative slack 1e-7). The far-side boundary is found by a vectorised integer bisection on
    the monotone side of the pmf, so thousands of tests (e.g. one per rater) cost a few
    array passes. Entries with n = 0 get p = 1.
    """
    k_arr, n_arr, p_arr = np.broadcast_arrays(
        np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64), as_float_array(p0)
    )
    k_arr = k_arr.astype(np.float64)
    n_arr = n_arr.astype(np.float64)
    d = binom.pmf(k_arr, n_arr, p_arr) * (1.0 + 1e-7)
    mean = p_arr * n_arr
    below = k_arr < mean
    # below the mean: first j in [ceil(np), n+1] with pmf(j) <= d (n+1 is a sentinel, pmf 0)
    lo_b = np.ceil(mean)
    hi_b = n_arr + 1.0
    # above the mean: last j in [-1, floor(np)] with pmf(j) <= d (-1 is a sentinel)
    lo_a = np.full_like(n_arr, -1.0)
    hi_a = np.floor(mean)
    for _ in range(70):
        if not (np.any(lo_b < hi_b) or np.any(lo_a < hi_a)):
            break
        mid_b = np.floor((lo_b + hi_b) / 2.0)
        small = _pmf_or_zero(mid_b, n_arr, p_arr) <= d
        hi_b = np.where(small, mid_b, hi_b)
        lo_b = np.where(small, lo_b, mid_b + 1.0)
        mid_a = np.ceil((lo_a + hi_a) / 2.0)
        small = _pmf_or_zero(mid_a, n_arr, p_arr) <= d
        lo_a = np.where(small, mid_a, lo_a)
        hi_a = np.where(small, hi_a, mid_a - 1.0)
    p_below = binom.cdf(k_arr, n_arr, p_arr) + binom.sf(lo_b - 1.0, n_arr, p_arr)
    p_above = binom.cdf(hi_a, n_arr, p_arr) + binom.sf(k_arr - 1.0, n_arr, p_arr)
    p = np.where(below, p_below, p_above)
    p = np.where(k_arr == mean, 1.0, p)
    p = np.where(n_arr <= 0, 1.0, p)
    return np.minimum(1.0, p).astype(np.float64)


def holm_adjust(p_values: ArrayLike) -> FloatArray:
    """Holm step-down adjusted p-values (family-wise error control), order preserved."""
    p = as_float_array(p_values).ravel()
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty_like(p)
    adjusted[order] = adjusted_sorted
    return adjusted


def _pmf_or_zero(j: FloatArray, n: FloatArray, p: FloatArray) -> FloatArray:
    inside = (j >= 0) & (j <= n)
    return np.where(inside, binom.pmf(np.clip(j, 0, None), n, p), 0.0)
