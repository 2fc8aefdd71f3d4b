"""Sequential monitoring for dashboards that are watched continuously (STATS.md §5).

* Beta-binomial (Robbins) mixture confidence sequence, a = b = ½: covers p simultaneously for
  all n, so peeking and data-dependent stopping keep the 95% guarantee.
* The matching anytime-valid p-value for H0: p = ½ (mixture SPRT).
* Wald's SPRT (0.5 vs 0.7, α = 0.05, β = 0.10 by default) as a ship / no-ship gate.

Only decisive votes (wins and losses, in arrival order) enter; ties and both-bad are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import betaln, xlog1py, xlogy

from evalhub.stats._arrays import FloatArray, as_float_array

_BISECTION_STEPS = 64


def beta_binomial_cs(
    wins: ArrayLike,
    losses: ArrayLike,
    *,
    alpha: float = 0.05,
    prior_a: float = 0.5,
    prior_b: float = 0.5,
) -> tuple[FloatArray, FloatArray]:
    """Confidence sequence CS_n = {p : ln M_n(p) < ln(1/α)} at the given counts (vectorised).

    ln M_n(p) = ln B(a+W, b+L) − ln B(a, b) − W ln p − L ln(1−p) is convex in p with its
    minimum at p̂, so CS_n is an interval; both ends are found by bisection (§5.2).
    """
    w_arr, l_arr = np.broadcast_arrays(as_float_array(wins), as_float_array(losses))
    threshold = math.log(1.0 / alpha)
    const = betaln(prior_a + w_arr, prior_b + l_arr) - betaln(prior_a, prior_b)
    n = w_arr + l_arr
    with np.errstate(divide="ignore", invalid="ignore"):
        p_hat = np.where(n > 0, w_arr / n, 0.5)

    def excluded(p: FloatArray) -> NDArray[np.bool_]:
        return np.asarray((const - xlogy(w_arr, p) - xlog1py(l_arr, -p)) >= threshold)

    # lower end: in [0, p̂]; upper end: in [p̂, 1]. `outside` moves the bracket towards p̂.
    lo_a, lo_b = np.zeros_like(p_hat), p_hat.copy()
    hi_a, hi_b = p_hat.copy(), np.ones_like(p_hat)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo_a + lo_b)
            out = excluded(mid)
            lo_a = np.where(out, mid, lo_a)
            lo_b = np.where(out, lo_b, mid)
            mid = 0.5 * (hi_a + hi_b)
            out = excluded(mid)
            hi_b = np.where(out, mid, hi_b)
            hi_a = np.where(out, hi_a, mid)
        lower = np.where(excluded(np.zeros_like(p_hat)), lo_b, 0.0)
        upper = np.where(excluded(np.ones_like(p_hat)), hi_a, 1.0)
    return lower.astype(np.float64), upper.astype(np.float64)


@dataclass(frozen=True)
class ConfidenceSequencePath:
    """A confidence sequence along a stream of decisive votes (one entry per vote)."""

    wins: FloatArray  # cumulative wins after each decisive vote
    losses: FloatArray
    lower: FloatArray  # CS_n
    upper: FloatArray
    running_lower: FloatArray  # running intersection ∩_{k≤n} CS_k (monotone, also valid)
    running_upper: FloatArray
    p_value: FloatArray  # anytime-valid p-value for p = ½ after each vote


def confidence_sequence_path(
    outcomes: ArrayLike,
    *,
    alpha: float = 0.05,
    prior_a: float = 0.5,
    prior_b: float = 0.5,
) -> ConfidenceSequencePath:
    """CS, running intersection and anytime p-value along decisive votes (True/1 = FT win)."""
    win = np.asarray(outcomes, dtype=np.float64).ravel()
    wins = np.cumsum(win)
    losses = np.cumsum(1.0 - win)
    lower, upper = beta_binomial_cs(wins, losses, alpha=alpha, prior_a=prior_a, prior_b=prior_b)
    return ConfidenceSequencePath(
        wins,
        losses,
        lower,
        upper,
        np.maximum.accumulate(lower) if lower.size else lower,
        np.minimum.accumulate(upper) if upper.size else upper,
        anytime_p_values(wins, losses, prior_a=prior_a, prior_b=prior_b),
    )


def anytime_p_values(
    wins: ArrayLike, losses: ArrayLike, *, prior_a: float = 0.5, prior_b: float = 0.5
) -> FloatArray:
    """p_n = min(1, 1 / max_{k≤n} M_k(½)) along cumulative counts (mixture-SPRT p-value).

    Pass the cumulative wins and losses after each decisive vote. Given only the current
    totals, the result 1/M_n(½) is still a valid (if less tight) anytime p-value.
    """
    w_arr, l_arr = np.broadcast_arrays(as_float_array(wins), as_float_array(losses))
    log_m: FloatArray = np.asarray(
        betaln(prior_a + w_arr, prior_b + l_arr)
        - betaln(prior_a, prior_b)
        + (w_arr + l_arr) * math.log(2.0),
        dtype=np.float64,
    )
    if log_m.ndim:
        log_m = np.maximum.accumulate(log_m)
    return np.minimum(1.0, np.exp(-np.maximum(log_m, 0.0))).astype(np.float64)


def normal_mixture_cs_radius(n_units: ArrayLike, *, alpha: float = 0.05, rho: float) -> FloatArray:
    """Half-width of the sub-Gaussian normal-mixture CS for a mean of m units in [0, 1] (§5.2).

    |ȳ − μ| ≤ (1/m)·sqrt((m/4 + ρ)·ln((m/4 + ρ)/(ρα²))). For prompt-level units y_j = w_j/n_j
    when prompts cluster; ρ ≈ 0.030·m* makes it tightest at m* prompts.
    """
    m = as_float_array(n_units)
    v = m / 4.0 + rho
    with np.errstate(divide="ignore", invalid="ignore"):
        radius = np.sqrt(v * np.log(v / (rho * alpha * alpha))) / m
    return np.where(m > 0, radius, np.inf)


@dataclass(frozen=True)
class SprtDesign:
    """Wald SPRT of H0: p = p0 vs H1: p = p1 on decisive votes (§5.3)."""

    p0: float = 0.5
    p1: float = 0.7
    alpha: float = 0.05
    beta: float = 0.10

    def __post_init__(self) -> None:
        if not (0.0 < self.p0 < self.p1 < 1.0 and 0.0 < self.alpha < 1 and 0.0 < self.beta < 1):
            raise ValueError("need 0 < p0 < p1 < 1 and alpha, beta in (0, 1)")

    @property
    def log_a(self) -> float:
        """Upper threshold ln((1−β)/α): accept H1 at or above it."""
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def log_b(self) -> float:
        """Lower threshold ln(β/(1−α)): accept H0 at or below it."""
        return math.log(self.beta / (1.0 - self.alpha))

    @property
    def win_step(self) -> float:
        return math.log(self.p1 / self.p0)

    @property
    def loss_step(self) -> float:
        return math.log((1.0 - self.p1) / (1.0 - self.p0))

    @property
    def slope(self) -> float:
        """Boundaries in wins: accept H1 when W ≥ h1 + s·n, H0 when W ≤ h0 + s·n."""
        return -self.loss_step / (self.win_step - self.loss_step)

    @property
    def intercept_h1(self) -> float:
        return self.log_a / (self.win_step - self.loss_step)

    @property
    def intercept_h0(self) -> float:
        return self.log_b / (self.win_step - self.loss_step)

    def llr(self, wins: ArrayLike, losses: ArrayLike) -> FloatArray:
        """λ = W ln(p1/p0) + L ln((1−p1)/(1−p0))."""
        return as_float_array(wins) * self.win_step + as_float_array(losses) * self.loss_step


@dataclass(frozen=True)
class SprtResult:
    decision: str  # "accept_h1", "accept_h0" or "continue"
    n: int  # decisive votes used: the stopping time, or all of them when continuing
    wins: int
    losses: int
    llr: float


def sprt_run(outcomes: ArrayLike, design: SprtDesign | None = None) -> SprtResult:
    """Run the SPRT over decisive votes in arrival order (True/1 = FT win); stop at the first
    crossing. Vectorised: cumulative sums and the first index past either threshold."""
    d = design or SprtDesign()
    win = np.asarray(outcomes, dtype=np.int64).ravel()
    wins = np.cumsum(win)
    losses = np.arange(1, win.size + 1) - wins
    llr = d.llr(wins, losses)
    crossed = (llr >= d.log_a) | (llr <= d.log_b)
    if not crossed.any():
        total_w = int(wins[-1]) if win.size else 0
        total_l = int(losses[-1]) if win.size else 0
        return SprtResult(
            "continue", int(win.size), total_w, total_l, float(d.llr(total_w, total_l))
        )
    i = int(np.argmax(crossed))
    decision = "accept_h1" if llr[i] >= d.log_a else "accept_h0"
    return SprtResult(decision, i + 1, int(wins[i]), int(losses[i]), float(llr[i]))


def sprt_operating_characteristic(
    p: float, design: SprtDesign | None = None
) -> tuple[float, float]:
    """Wald's approximations at true rate p: (L(p) = P(accept H0), E_p[N])."""
    d = design or SprtDesign()
    log_a, log_b = d.log_a, d.log_b
    ratio_w, ratio_l = d.p1 / d.p0, (1.0 - d.p1) / (1.0 - d.p0)
    drift = p * d.win_step + (1.0 - p) * d.loss_step
    if abs(drift) < 1e-12:
        second = p * d.win_step**2 + (1.0 - p) * d.loss_step**2
        return log_a / (log_a - log_b), -log_a * log_b / second

    def moment(h: float) -> float:
        return float(p * math.pow(ratio_w, h) + (1.0 - p) * math.pow(ratio_l, h) - 1.0)

    # h > 0 when the drift is negative (p below the indifference point), else h < 0.
    if drift < 0:
        h = float(brentq(moment, 1e-9, _bracket(moment, 1.0)))
    else:
        h = float(brentq(moment, _bracket(moment, -1.0), -1e-9))
    a_h, b_h = math.exp(h * log_a), math.exp(h * log_b)
    oc = (a_h - 1.0) / (a_h - b_h)
    expected_n = (oc * log_b + (1.0 - oc) * log_a) / drift
    return oc, expected_n


def _bracket(func: Callable[[float], float], start: float) -> float:
    x = start
    for _ in range(200):
        if func(x) > 0:
            return x
        x *= 2.0
    raise RuntimeError("could not bracket the SPRT moment equation")
