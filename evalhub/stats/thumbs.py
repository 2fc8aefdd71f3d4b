"""Thumbs up/down per answer: compare the thumbs-up rates r_FT and r_base (STATS.md §4.2).

This is a difference of two proportions, not a support rate: never feed it into the bands.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest, boschloo_exact, norm

from evalhub.stats._arrays import as_counts
from evalhub.stats.intervals import newcombe_difference_interval, tango_difference_interval

#: Boschloo's test enumerates all (n1+1)(n2+1) tables: 0.3 s at 200 × 200, 25 s at 1000 × 1000.
#: Above this many tables the pooled score test is used (it agrees closely at such sizes).
BOSCHLOO_MAX_TABLES = 40_401


@dataclass(frozen=True)
class PairedThumbs:
    """Both models answered the same prompts and each answer got a thumb."""

    n_pairs: int
    rate_ft: float | None
    rate_base: float | None
    difference: float | None  # r_FT − r_base
    ci_low: float  # Tango score interval for the difference
    ci_high: float
    p_value: float  # exact McNemar: binomtest(ft_only, ft_only + base_only, ½)
    confidence: float


def thumbs_paired(
    both_up: int, ft_only_up: int, base_only_up: int, both_down: int, *, confidence: float = 0.95
) -> PairedThumbs:
    """Exact McNemar test plus the Tango interval for r_FT − r_base on paired thumbs."""
    a = int(as_counts(both_up, "both_up"))
    b = int(as_counts(ft_only_up, "ft_only_up"))
    c = int(as_counts(base_only_up, "base_only_up"))
    d = int(as_counts(both_down, "both_down"))
    n = a + b + c + d
    low, high = tango_difference_interval(b, c, n, confidence=confidence)
    p_value = float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    return PairedThumbs(
        n,
        (a + b) / n if n else None,
        (a + c) / n if n else None,
        (b - c) / n if n else None,
        float(low),
        float(high),
        p_value,
        confidence,
    )


@dataclass(frozen=True)
class UnpairedThumbs:
    """Thumbs on separate traffic for each model (independent samples)."""

    ups_ft: int
    n_ft: int
    ups_base: int
    n_base: int
    difference: float  # r_FT − r_base
    ci_low: float  # Newcombe hybrid-score interval
    ci_high: float
    p_value: float
    test: str  # "boschloo" (exact) or "score" (pooled two-proportion z, large samples)
    confidence: float


def thumbs_unpaired(
    ups_ft: int,
    n_ft: int,
    ups_base: int,
    n_base: int,
    *,
    confidence: float = 0.95,
    exact: bool | None = None,
) -> UnpairedThumbs:
    """Newcombe interval and Boschloo's exact test (``scipy.stats.boschloo_exact``).

    ``exact=None`` runs Boschloo when (n_FT + 1)(n_base + 1) ≤ BOSCHLOO_MAX_TABLES and the
    pooled score test otherwise; ``exact=True`` forces Boschloo whatever it costs.
    """
    x1, n1 = int(as_counts(ups_ft, "ups_ft")), int(as_counts(n_ft, "n_ft"))
    x2, n2 = int(as_counts(ups_base, "ups_base")), int(as_counts(n_base, "n_base"))
    if x1 > n1 or x2 > n2 or n1 == 0 or n2 == 0:
        raise ValueError("need 0 <= ups <= n and n > 0 for both models")
    low, high = newcombe_difference_interval(x1, n1, x2, n2, confidence=confidence)
    use_exact = exact if exact is not None else (n1 + 1) * (n2 + 1) <= BOSCHLOO_MAX_TABLES
    if use_exact:
        table = [[x1, x2], [n1 - x1, n2 - x2]]
        p_value, test = float(boschloo_exact(table, alternative="two-sided").pvalue), "boschloo"
    else:
        p_value, test = _pooled_z_p_value(x1, n1, x2, n2), "score"
    return UnpairedThumbs(
        x1,
        n1,
        x2,
        n2,
        x1 / n1 - x2 / n2,
        float(low),
        float(high),
        min(1.0, p_value),
        test,
        confidence,
    )


def _pooled_z_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if var <= 0.0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / var**0.5
    return float(2.0 * norm.sf(abs(z)))
