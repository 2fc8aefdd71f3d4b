"""Confidence intervals for proportions (STATS.md §1.3, §1.5, §4.2).

Every function is vectorised: counts may be scalars or arrays (broadcast together), and the
bounds come back as float64 arrays of the broadcast shape (0-d for scalar input; call
``float()`` on them). Counts may be non-integer where that makes sense (Wilson on effective
counts, Tango on counts divided by a design effect).

Conventions (§1.5): with n = 0 every interval is [0, 1]; the lower bound is exactly 0 when
k = 0 and the upper bound exactly 1 when k = n.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta

from evalhub.stats._arrays import FloatArray, as_float_array, z_value

Bounds = tuple[FloatArray, FloatArray]

_BISECTION_STEPS = 64  # [-1, 1] halved to width 2**-63, far below the 1e-9 tolerance


def wilson_interval(k: ArrayLike, n: ArrayLike, *, confidence: float = 0.95) -> Bounds:
    """Wilson score interval for k successes out of n (the default interval, §1.3)."""
    k_arr, n_arr = np.broadcast_arrays(as_float_array(k), as_float_array(n))
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        denom = 1.0 + z2 / n_arr
        centre = (p + z2 / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z2 / (4.0 * n_arr**2)) / denom
    low = np.where(k_arr <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k_arr >= n_arr, 1.0, np.clip(centre + half, 0.0, 1.0))
    return _empty_is_unit(low, high, n_arr)


def clopper_pearson_interval(k: ArrayLike, n: ArrayLike, *, confidence: float = 0.95) -> Bounds:
    """Clopper-Pearson ("exact", strict mode) interval from beta quantiles."""
    k_arr, n_arr = np.broadcast_arrays(as_float_array(k), as_float_array(n))
    tail = (1.0 - confidence) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        low = beta.ppf(tail, k_arr, n_arr - k_arr + 1.0)
        high = beta.isf(tail, k_arr + 1.0, n_arr - k_arr)
    low = np.where(k_arr <= 0, 0.0, low)
    high = np.where(k_arr >= n_arr, 1.0, high)
    return _empty_is_unit(low, high, n_arr)


def wilson_cc_interval(k: ArrayLike, n: ArrayLike, *, confidence: float = 0.95) -> Bounds:
    """Wilson interval with continuity correction (Newcombe 1998, method 4; scipy 'wilsoncc')."""
    k_arr, n_arr = np.broadcast_arrays(as_float_array(k), as_float_array(n))
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        q = 1.0 - p
        denom = 2.0 * (n_arr + z2)
        centre = (2.0 * n_arr * p + z2) / denom
        d_low = (1.0 + z * np.sqrt(z2 - 2.0 - 1.0 / n_arr + 4.0 * p * (n_arr * q + 1.0))) / denom
        d_high = (1.0 + z * np.sqrt(z2 + 2.0 - 1.0 / n_arr + 4.0 * p * (n_arr * q - 1.0))) / denom
    low = np.where(k_arr <= 0, 0.0, np.clip(centre - d_low, 0.0, 1.0))
    high = np.where(k_arr >= n_arr, 1.0, np.clip(centre + d_high, 0.0, 1.0))
    return _empty_is_unit(low, high, n_arr)


def jeffreys_interval(k: ArrayLike, n: ArrayLike, *, confidence: float = 0.95) -> Bounds:
    """Equal-tailed Jeffreys interval, Beta(k+½, n−k+½) quantiles, unmodified at k = 0 or n.

    Matches ``statsmodels proportion_confint(method='jeffreys')``; only n = 0 is special-cased.
    """
    k_arr, n_arr = np.broadcast_arrays(as_float_array(k), as_float_array(n))
    tail = (1.0 - confidence) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        low = beta.ppf(tail, k_arr + 0.5, n_arr - k_arr + 0.5)
        high = beta.isf(tail, k_arr + 0.5, n_arr - k_arr + 0.5)
    return _empty_is_unit(low, high, n_arr)


def tango_difference_interval(
    b: ArrayLike, c: ArrayLike, n: ArrayLike, *, confidence: float = 0.95
) -> Bounds:
    """Tango (1998) score interval for D = π_b − π_c, two cells of one multinomial of size n.

    Paired proportions: b and c are the discordant cells (e.g. FT-only thumbs up and base-only
    thumbs up), n the number of pairs. For the ties-as-half rate, b = W, c = L and n = N.
    Solved by vectorised bisection of the monotone score statistic Z(d) (§1.3). The upper
    limit uses the symmetry upper(b, c) = −lower(c, b). With n = 0 the interval is [−1, 1].
    """
    b_arr, c_arr, n_arr = np.broadcast_arrays(
        as_float_array(b), as_float_array(c), as_float_array(n)
    )
    z = z_value(confidence)
    both_b = np.stack([b_arr, c_arr])
    both_c = np.stack([c_arr, b_arr])
    both_n = np.stack([n_arr, n_arr])
    with np.errstate(divide="ignore", invalid="ignore"):
        point = np.where(both_n > 0, (both_b - both_c) / both_n, 0.0)
    lo = np.full(both_b.shape, -1.0)
    hi = point.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            outside = _tango_z(mid, both_b, both_c, both_n) > z  # NaN (0/0 at d = ±1) = inside
            lo = np.where(outside, mid, lo)
            hi = np.where(outside, hi, mid)
    lower = np.where(both_n > 0, hi, -1.0)
    return lower[0], -lower[1]


def ties_half_interval(
    wins: ArrayLike, losses: ArrayLike, non_decisive: ArrayLike, *, confidence: float = 0.95
) -> Bounds:
    """Tango interval for the ties-as-half rate s = (W + ½(T+B)) / N (§1.3, estimand B).

    ``non_decisive`` is T + B. Counts may be divided by a design effect first (clustered data).
    """
    w_arr, l_arr, t_arr = np.broadcast_arrays(
        as_float_array(wins), as_float_array(losses), as_float_array(non_decisive)
    )
    d_low, d_high = tango_difference_interval(
        w_arr, l_arr, w_arr + l_arr + t_arr, confidence=confidence
    )
    return (1.0 + d_low) / 2.0, (1.0 + d_high) / 2.0


def newcombe_difference_interval(
    x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, *, confidence: float = 0.95
) -> Bounds:
    """Newcombe hybrid-score interval for p1 − p2 from two independent samples (§4.2).

    Equals ``statsmodels confint_proportions_2indep(..., method='newcomb')``.
    """
    x1_arr, n1_arr, x2_arr, n2_arr = np.broadcast_arrays(
        as_float_array(x1), as_float_array(n1), as_float_array(x2), as_float_array(n2)
    )
    if np.any(n1_arr <= 0) or np.any(n2_arr <= 0):
        raise ValueError("both samples need at least one observation")
    p1 = x1_arr / n1_arr
    p2 = x2_arr / n2_arr
    low1, high1 = wilson_interval(x1_arr, n1_arr, confidence=confidence)
    low2, high2 = wilson_interval(x2_arr, n2_arr, confidence=confidence)
    diff = p1 - p2
    low = diff - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    high = diff + np.sqrt((p2 - low2) ** 2 + (high1 - p1) ** 2)
    return low, high


def _tango_z(d: FloatArray, b: FloatArray, c: FloatArray, n: FloatArray) -> FloatArray:
    a_coef = 2.0 * n
    b_coef = -b - c + (2.0 * n - b + c) * d
    c_coef = -c * d * (1.0 - d)
    q_tilde = (np.sqrt(b_coef * b_coef - 4.0 * a_coef * c_coef) - b_coef) / (2.0 * a_coef)
    return (b - c - n * d) / np.sqrt(n * (2.0 * q_tilde + d * (1.0 - d)))


def _empty_is_unit(low: FloatArray, high: FloatArray, n: FloatArray) -> Bounds:
    empty = n <= 0
    return (
        np.where(empty, 0.0, low).astype(np.float64),
        np.where(empty, 1.0, high).astype(np.float64),
    )
