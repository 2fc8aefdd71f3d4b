"""How many votes settle a verdict (STATS.md §3.4, §2.2 "Planning").

All sizes are in decisive votes unless named ``*_votes``; total votes add the non-decisive share
τ = (T + B)/N and the design effect: ``votes = decisive · Deff / (1 − τ)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from scipy.stats import norm

from evalhub.stats._arrays import z_value
from evalhub.stats.bands import DEFAULT_BANDS, Bands

_MAX_DOUBLINGS = 60


def n_for_half_width(
    support_rate: float, half_width: float, *, method: str = "wilson", confidence: float = 0.95
) -> int:
    """Decisive votes for a target CI half-width h at an anticipated rate p.

    ``wald``: n = z²p(1−p)/h² (statsmodels ``samplesize_confint_proportion``).
    ``wilson``: the exact solution of Wilson half-width = h, a quadratic in u = 1/n (§3.4).
    """
    p, h = float(support_rate), float(half_width)
    if not (0.0 <= p <= 1.0 and 0.0 < h < 0.5):
        raise ValueError("need 0 <= support_rate <= 1 and 0 < half_width < 0.5")
    z = z_value(confidence)
    if method == "wald":
        return math.ceil(z * z * p * (1.0 - p) / (h * h))
    if method != "wilson":
        raise ValueError(f"method must be 'wilson' or 'wald', got {method!r}")
    z2 = z * z
    a = z2 * z2 * (h * h - 0.25)
    b = z2 * (2.0 * h * h - p * (1.0 - p))
    c = h * h
    u = (-b - math.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)
    return math.ceil(1.0 / u)


def n_to_separate(
    support_rate: float, edge: float, *, power: float = 0.8, confidence: float = 0.95
) -> int | None:
    """Decisive votes for the CI to clear ``edge`` with the given power at true rate p (§3.4).

    n = [z_{1−α/2}·√(c(1−c)) + z_{power}·√(p(1−p))]² / (p − c)²; None when p = c.
    """
    p, c = float(support_rate), float(edge)
    if p == c:
        return None
    z = z_value(confidence)
    z_power = float(norm.ppf(power))
    root = z * math.sqrt(c * (1.0 - c)) + z_power * math.sqrt(p * (1.0 - p))
    return math.ceil(root * root / ((p - c) ** 2))


def n_to_resolve_at_phat(
    wins: int,
    losses: int,
    *,
    n_start: float | None = None,
    bands: Bands = DEFAULT_BANDS,
    confidence: float = 0.95,
) -> int | None:
    """Smallest n′ ≥ n at which a Wilson CI centred at p̂ = W/(W+L) lies inside band(p̂).

    Exponential then binary search on n′ (§3.4 step 2). This is a 50%-power figure. Returns
    None when there are no decisive votes or p̂ sits exactly on a band edge (never resolves at
    this estimate). ``n_start`` (default W + L) may be an effective sample size; the search is
    then over n′ ≥ n_start and returns n_start itself (rounded up) when it already resolves.
    """
    n = wins + losses
    if n <= 0:
        return None
    rate = Fraction(wins, n)
    if bands.is_edge(rate):
        return None
    p = float(rate)
    z = z_value(confidence)
    start = float(n if n_start is None else n_start)
    if _resolved(p, start, bands, z):
        return math.ceil(start)
    lo = start  # unresolved
    hi = max(1.0, math.ceil(2.0 * start))
    for _ in range(_MAX_DOUBLINGS):
        if _resolved(p, hi, bands, z):
            break
        lo, hi = hi, 2.0 * hi
    else:
        return None
    lo_i, hi_i = math.floor(lo), int(hi)  # lo_i unresolved (or below start), hi_i resolved
    while hi_i - lo_i > 1:
        mid = (lo_i + hi_i) // 2
        if mid > start and _resolved(p, float(mid), bands, z):
            hi_i = mid
        else:
            lo_i = mid
    return hi_i


@dataclass(frozen=True)
class VotesToSettle:
    """The dashboard hint: how many more votes would settle the verdict."""

    decisive_needed_at_phat: int | None  # total decisive votes (50% power, CI centred at p̂)
    additional_decisive_at_phat: int | None
    additional_votes_at_phat: int | None  # incl. ties / both-bad at the current rate
    binding_edge: float | None  # the band edge that needs the most votes to clear
    decisive_needed_at_power: int | None  # total decisive votes, score formula at `power`
    additional_decisive_at_power: int | None
    additional_votes_at_power: int | None
    power: float


def votes_to_settle(
    wins: int,
    losses: int,
    ties: int = 0,
    both_bad: int = 0,
    *,
    design_effect: float = 1.0,
    bands: Bands = DEFAULT_BANDS,
    confidence: float = 0.95,
    power: float = 0.8,
) -> VotesToSettle:
    """More decisive and total votes needed to settle the verdict at the current estimate.

    Sizes are searched in effective units (n_eff = n / Deff) and converted back by × Deff; the
    total adds the non-decisive share: ``votes = decisive / (1 − τ)`` (§2.2, §3.4).
    """
    n = wins + losses
    total = n + ties + both_bad
    deff = max(1.0, float(design_effect))
    none = VotesToSettle(None, None, None, None, None, None, None, power)
    if n == 0:
        return none
    tau = (ties + both_bad) / total
    rate = Fraction(wins, n)
    n_eff = n / deff
    needed: int | None
    if not bands.is_edge(rate) and _resolved(float(rate), n_eff, bands, z_value(confidence)):
        needed = n
    else:
        needed_eff = n_to_resolve_at_phat(
            wins, losses, n_start=n_eff, bands=bands, confidence=confidence
        )
        needed = None if needed_eff is None else max(n, math.ceil(needed_eff * deff))

    low_edge, high_edge = bands.nearest_edges(rate)
    p = float(rate)
    per_edge = [
        (n_to_separate(p, float(e), power=power, confidence=confidence), float(e))
        for e in (low_edge, high_edge)
        if e is not None
    ]
    binding_edge: float | None = None
    needed_power: int | None = None
    if per_edge and all(size is not None for size, _ in per_edge):
        size, binding_edge = max((s, e) for s, e in per_edge if s is not None)
        needed_power = max(n, math.ceil(size * deff))
    if needed == n:  # already settled: no planning figure asks for more
        needed_power = n

    def extra(needed_total: int | None) -> tuple[int | None, int | None]:
        if needed_total is None:
            return None, None
        more = max(0, needed_total - n)
        return more, math.ceil(more / (1.0 - tau))

    more_phat, votes_phat = extra(needed)
    more_power, votes_power = extra(needed_power)
    return VotesToSettle(
        needed,
        more_phat,
        votes_phat,
        binding_edge,
        needed_power,
        more_power,
        votes_power,
        power,
    )


def _resolved(p: float, n: float, bands: Bands, z: float) -> bool:
    if n <= 0:
        return False
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if p <= 0.0 else min(1.0, max(0.0, centre - half))
    high = 1.0 if p >= 1.0 else min(1.0, max(0.0, centre + half))
    return bands.band_of_value(low) == bands.band_of_value(high)
