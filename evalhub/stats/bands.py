"""Verdict bands and the CI-aware verdict rule (STATS.md §3.1–§3.3).

Bands (δ = 0.05 by default)::

    damaged                  p <  0.5 − δ
    no_progress      0.5 − δ ≤ p ≤ 0.5 + δ
    not_ideal        0.5 + δ <  p <  0.70
    successful          0.70 ≤ p ≤ 0.80
    significant_improvement  p >  0.80

Point estimates W/(W+L) are placed in exact rational arithmetic (11/20 is exactly 0.55, which is
``no_progress``); interval bounds are compared as float64. The verdict names a band only when
both ends of the interval fall in it, else ``between:<band(lo)>..<band(hi)>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

DAMAGED = "damaged"
NO_PROGRESS = "no_progress"
NOT_IDEAL = "not_ideal"
SUCCESSFUL = "successful"
SIGNIFICANT_IMPROVEMENT = "significant_improvement"
INSUFFICIENT_DATA = "insufficient_data"
BAND_NAMES: tuple[str, ...] = (
    DAMAGED,
    NO_PROGRESS,
    NOT_IDEAL,
    SUCCESSFUL,
    SIGNIFICANT_IMPROVEMENT,
)
BAND_LABELS: dict[str, str] = {
    DAMAGED: "Damaged",
    NO_PROGRESS: "No progress",
    NOT_IDEAL: "Not ideal",
    SUCCESSFUL: "Successful",
    SIGNIFICANT_IMPROVEMENT: "Significant improvement",
    INSUFFICIENT_DATA: "Insufficient data",
}

RationalLike = Fraction | int | float | str


def _rational(value: RationalLike) -> Fraction:
    # Floats go through their shortest repr so that 0.05 means 1/20, not its binary neighbour.
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


@dataclass(frozen=True)
class Bands:
    """Band edges. ``delta`` is the half-width of "about 50%"; δ = 0 is the literal rule."""

    delta: Fraction = field(default=Fraction(1, 20))
    successful_from: Fraction = field(default=Fraction(7, 10))
    significant_above: Fraction = field(default=Fraction(4, 5))

    def __post_init__(self) -> None:
        for name in ("delta", "successful_from", "significant_above"):
            object.__setattr__(self, name, _rational(getattr(self, name)))
        if not (
            self.delta >= 0
            and Fraction(1, 2) + self.delta < self.successful_from <= self.significant_above < 1
        ):
            raise ValueError(
                "band edges must satisfy 0 <= delta and 0.5 + delta < successful_from "
                f"<= significant_above < 1; got delta={self.delta}, "
                f"successful_from={self.successful_from}, significant_above={self.significant_above}"
            )

    @property
    def edges(self) -> tuple[Fraction, Fraction, Fraction, Fraction]:
        """The four edges 0.5 − δ, 0.5 + δ, successful_from, significant_above."""
        half = Fraction(1, 2)
        return (half - self.delta, half + self.delta, self.successful_from, self.significant_above)

    def band_of_rate(self, wins: int, losses: int) -> str | None:
        """Band of the point estimate W/(W+L) in exact arithmetic; None when W + L = 0."""
        if wins + losses == 0:
            return None
        return self._band(Fraction(wins, wins + losses))

    def band_of_value(self, value: float | Fraction) -> str:
        """Band of a number: Fractions compare exactly, floats against float64 edges."""
        if isinstance(value, Fraction):
            return self._band(value)
        return self._band_float(float(value))

    def verdict(self, ci_low: float, ci_high: float, n_decisive: int) -> str:
        """``insufficient_data`` / a band name / ``between:<lo band>..<hi band>`` (§3.2)."""
        if n_decisive <= 0:
            return INSUFFICIENT_DATA
        low_band = self._band_float(float(ci_low))
        high_band = self._band_float(float(ci_high))
        if low_band == high_band:
            return low_band
        return f"between:{low_band}..{high_band}"

    def is_edge(self, value: Fraction) -> bool:
        """Whether a rational point estimate sits exactly on a band edge."""
        return value in self.edges

    def nearest_edges(self, value: Fraction) -> tuple[Fraction | None, Fraction | None]:
        """The edges of the band holding ``value``: (lower edge or None, upper edge or None)."""
        lower = [e for e in self.edges if e <= value]
        upper = [e for e in self.edges if e >= value]
        return (max(lower) if lower else None, min(upper) if upper else None)

    def _band(self, p: Fraction) -> str:
        e1, e2, e3, e4 = self.edges
        if p < e1:
            return DAMAGED
        if p <= e2:
            return NO_PROGRESS
        if p < e3:
            return NOT_IDEAL
        if p <= e4:
            return SUCCESSFUL
        return SIGNIFICANT_IMPROVEMENT

    def _band_float(self, x: float) -> str:
        e1, e2, e3, e4 = (float(e) for e in self.edges)
        if x < e1:
            return DAMAGED
        if x <= e2:
            return NO_PROGRESS
        if x < e3:
            return NOT_IDEAL
        if x <= e4:
            return SUCCESSFUL
        return SIGNIFICANT_IMPROVEMENT


DEFAULT_BANDS = Bands()
LITERAL_BANDS = Bands(delta=Fraction(0))


def describe_verdict(verdict: str, ci_low: float, ci_high: float, confidence: float = 0.95) -> str:
    """Human text, e.g. "Between not ideal and significant improvement (95% CI 65.7–82.5%)"."""
    if verdict == INSUFFICIENT_DATA:
        return BAND_LABELS[INSUFFICIENT_DATA]
    ci = f"({confidence * 100:g}% CI {ci_low * 100:.1f}–{ci_high * 100:.1f}%)"
    if verdict.startswith("between:"):
        low_band, high_band = verdict.removeprefix("between:").split("..")
        return f"Between {BAND_LABELS[low_band].lower()} and {BAND_LABELS[high_band].lower()} {ci}"
    return f"{BAND_LABELS[verdict]} {ci}"
