"""Multi-model leaderboard: Bradley–Terry by MM on aggregated cells, Elo scale (STATS.md §6).

P(i beats j) = σ(θ_i − θ_j). MM (Zermelo; Hunter 2004): π_i ← W_i / Σ_j N_ij/(π_i + π_j) with
W_i = wins (+ ½ per tie when ties count as half) and N_ij the i–j battles, renormalised to
geometric mean 1 each step. It is batched: a bootstrap runs all R replicates as one (R, M, M)
array. Elo_i = 1000 + (400/ln 10)(θ_i − θ_anchor), anchored at the base model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from evalhub.stats._arrays import FloatArray, RngLike, as_counts, resolve_rng

ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)  # 173.7178...
_THETA_CAP = 50.0  # |θ| bound: keeps models without an MLE (undefeated / winless) finite
_TINY = 1e-300
_UNBOUNDED_MAX_ITER = 2_000  # no MLE: θ only drifts, so stop early (the result is flagged)
TIE_MODES = ("half", "drop")


@dataclass(frozen=True)
class Leaderboard:
    """Bradley–Terry ratings on the Elo scale, with bootstrap intervals and Arena ranks."""

    names: tuple[str, ...]
    theta: tuple[float, ...]  # log-strengths, geometric mean 0
    elo: tuple[float, ...]  # 1000 + ELO_SCALE·(θ − θ_anchor)
    elo_ci_low: tuple[float, ...] | None
    elo_ci_high: tuple[float, ...] | None
    rank: tuple[int, ...]  # 1 + #{j : lower_j > upper_i} (by point estimate without bootstrap)
    anchor: int
    ties: str  # "half" (a tie is half a win for each side) or "drop"
    n_battles: int
    mle_exists: bool  # comparison graph strongly connected (else some ratings are unbounded)
    iterations: int
    bootstrap_resamples: int
    confidence: float
    bootstrap_ridged: int = 0  # replicates without an MLE, fitted with one virtual tie per pair

    def to_rows(self) -> list[dict[str, object]]:
        """One plain dict per model, best first."""
        order = sorted(range(len(self.names)), key=lambda i: (-self.elo[i], self.names[i]))
        return [
            {
                "model": self.names[i],
                "rank": self.rank[i],
                "elo": self.elo[i],
                "elo_ci_low": None if self.elo_ci_low is None else self.elo_ci_low[i],
                "elo_ci_high": None if self.elo_ci_high is None else self.elo_ci_high[i],
                "is_anchor": i == self.anchor,
            }
            for i in order
        ]


def bradley_terry(
    model_a: ArrayLike,
    model_b: ArrayLike,
    wins_a: ArrayLike,
    wins_b: ArrayLike,
    ties: ArrayLike | None = None,
    *,
    names: Sequence[str] | None = None,
    n_models: int | None = None,
    anchor: int = 0,
    tie_mode: str = "half",
    virtual_ties: float = 0.0,
    bootstrap_resamples: int = 0,
    rng: RngLike | None = None,
    confidence: float = 0.95,
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> Leaderboard:
    """Fit BT on aggregated (model_a, model_b) cells and put it on the Elo scale.

    One row per pair (or per pair and slice; rows are summed): model indices and the counts of
    a-wins, b-wins and ties (both-bad counts as a tie, as in Chatbot Arena). ``tie_mode='drop'``
    leaves ties out, which keeps the θ scale comparable with the bands (ties attenuate BT).
    ``virtual_ties`` adds that many ties to every pair (a ridge that makes the MLE exist).
    The bootstrap resamples battles: a multinomial over the (pair, outcome) cells. A replicate
    whose comparison graph is not strongly connected has no MLE (a version undefeated or winless
    in that draw: its θ would drift to the cap and the interval to thousands of Elo), so it is
    fitted with one virtual tie per pair, the remedy of STATS.md §6; ``bootstrap_ridged`` says
    how many replicates needed it.
    """
    if tie_mode not in TIE_MODES:
        raise ValueError(f"tie_mode must be one of {TIE_MODES}, got {tie_mode!r}")
    a = np.asarray(model_a, dtype=np.int64).ravel()
    b = np.asarray(model_b, dtype=np.int64).ravel()
    wa = as_counts(wins_a, "wins_a").ravel().astype(np.float64)
    wb = as_counts(wins_b, "wins_b").ravel().astype(np.float64)
    wt = np.zeros_like(wa) if ties is None else as_counts(ties, "ties").ravel().astype(np.float64)
    if not (a.shape == b.shape == wa.shape == wb.shape == wt.shape):
        raise ValueError("model_a, model_b, wins_a, wins_b and ties must have the same length")
    if np.any(a == b):
        raise ValueError("a model cannot battle itself")
    m = int(n_models if n_models is not None else (max(a.max(initial=-1), b.max(initial=-1)) + 1))
    if names is not None and len(names) != m:
        raise ValueError(f"{len(names)} names for {m} models")
    if not 0 <= anchor < m:
        raise ValueError("anchor must index a model")
    if tie_mode == "drop":
        wt = np.zeros_like(wt)
    label = tuple(names) if names is not None else tuple(f"model_{i}" for i in range(m))

    # Cells: (pair, outcome) with counts; sparse map from cells to the flat M×M win matrix.
    half = 0.5
    rows = np.concatenate([a * m + b, b * m + a, a * m + b, b * m + a])
    cell = np.concatenate(
        [np.arange(a.size), a.size + np.arange(a.size)] + [2 * a.size + np.arange(a.size)] * 2
    )
    weight = np.concatenate([np.ones(2 * a.size), np.full(2 * a.size, half)])
    to_matrix = sparse.csr_matrix((weight, (cell, rows)), shape=(3 * a.size, m * m))
    counts = np.concatenate([wa, wb, wt])
    prior = _virtual_ties(m, virtual_ties)

    wins_matrix = (to_matrix.T @ counts).reshape(m, m) + prior
    exists = _strongly_connected(wins_matrix)
    cap = max_iter if exists else min(max_iter, _UNBOUNDED_MAX_ITER)
    theta, iterations = bt_mm(wins_matrix[None], tol=tol, max_iter=cap)
    theta = theta[0]
    elo = elo_from_theta(theta, anchor)

    low = high = None
    if bootstrap_resamples > 0:
        generator = resolve_rng(rng)
        total = int(counts.sum())
        draws = generator.multinomial(total, counts / total, size=bootstrap_resamples)
        batch = np.asarray((sparse.csr_matrix(draws.astype(np.float64)) @ to_matrix).todense())
        batch = batch.reshape(bootstrap_resamples, m, m) + prior
        boot_theta = np.empty((bootstrap_resamples, m))
        connected = _strongly_connected_batch(batch)
        ridged = int((~connected).sum())
        if ridged:
            batch[~connected] += _virtual_ties(m, max(1.0, virtual_ties)) - prior
            connected = _strongly_connected_batch(batch)
        for mask, cap in ((connected, max_iter), (~connected, _UNBOUNDED_MAX_ITER)):
            if mask.any():
                boot_theta[mask], _ = bt_mm(batch[mask], tol=max(tol, 1e-9), max_iter=cap)
        boot_elo = elo_from_theta(boot_theta, anchor)
        tail = (1.0 - confidence) / 2.0
        low_arr, high_arr = np.quantile(boot_elo, [tail, 1.0 - tail], axis=0)
        low, high = tuple(float(x) for x in low_arr), tuple(float(x) for x in high_arr)
        rank = arena_ranks(low_arr, high_arr)
    else:
        rank = arena_ranks(elo, elo)
    return Leaderboard(
        label,
        tuple(float(x) for x in theta),
        tuple(float(x) for x in elo),
        low,
        high,
        tuple(int(r) for r in rank),
        anchor,
        tie_mode,
        int(wa.sum() + wb.sum() + wt.sum()),
        exists,
        iterations,
        bootstrap_resamples,
        confidence,
        ridged if bootstrap_resamples > 0 else 0,
    )


def bt_mm(
    wins: ArrayLike, *, tol: float = 1e-10, max_iter: int = 100_000
) -> tuple[FloatArray, int]:
    """Batched MM for BT. ``wins[..., i, j]`` = (half-)wins of i over j; returns θ (…, M), centred.

    Each replicate stops when none of its θ moves by more than ``tol`` (converged replicates
    are frozen, so a batch gives the same θ as one-at-a-time fits). Models without an MLE
    drift towards ±50 and are cut off by ``max_iter``. Returns θ and the iterations used.
    """
    w = np.asarray(wins, dtype=np.float64)
    shape = w.shape[:-2]
    m = w.shape[-1]
    w = w.reshape(-1, m, m)
    battles = w + np.swapaxes(w, -1, -2)
    log_wins = np.log(np.maximum(w.sum(axis=-1), _TINY))
    theta = np.zeros((w.shape[0], m))
    active = np.arange(w.shape[0])
    iterations = 0
    while active.size and iterations < max_iter:
        iterations += 1
        current = theta[active]
        pi = np.exp(current)
        denom = (battles[active] / (pi[:, :, None] + pi[:, None, :])).sum(axis=-1)
        new = np.where(denom > 0, log_wins[active] - np.log(np.maximum(denom, _TINY)), current)
        new = np.clip(new - new.mean(axis=-1, keepdims=True), -_THETA_CAP, _THETA_CAP)
        theta[active] = new
        moving = np.max(np.abs(new - current), axis=-1, initial=0.0) >= tol
        active = active[moving]
    return theta.reshape(*shape, m), iterations


def elo_from_theta(theta: ArrayLike, anchor: int) -> FloatArray:
    """Elo = 1000 + (400/ln 10)·(θ − θ_anchor), along the last axis."""
    t = np.asarray(theta, dtype=np.float64)
    return ELO_BASE + ELO_SCALE * (t - t[..., anchor : anchor + 1])


def arena_ranks(lower: ArrayLike, upper: ArrayLike) -> NDArray[np.int64]:
    """Arena rank rule: rank_i = 1 + #{j : lower_j > upper_i}; overlapping CIs share a rank."""
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    return np.asarray(1 + (lo[None, :] > hi[:, None]).sum(axis=1), dtype=np.int64)


def elo_gap_from_support_rate(rate: ArrayLike) -> FloatArray:
    """ΔR = 400·log10(s/(1−s)): 0.70 → +147.2, 0.80 → +240.8."""
    s = np.asarray(rate, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 400.0 * np.log10(s / (1.0 - s))


def support_rate_from_elo_gap(gap: ArrayLike) -> FloatArray:
    """s = 1 / (1 + 10^(−ΔR/400))."""
    return 1.0 / (1.0 + 10.0 ** (-np.asarray(gap, dtype=np.float64) / 400.0))


def _virtual_ties(m: int, per_pair: float) -> FloatArray:
    prior = np.full((m, m), 0.5 * per_pair)
    np.fill_diagonal(prior, 0.0)
    return prior


def _strongly_connected(wins_matrix: FloatArray) -> bool:
    return bool(_strongly_connected_batch(wins_matrix[None])[0])


def _strongly_connected_batch(wins: FloatArray) -> NDArray[np.bool_]:
    """Per replicate: does every model reach every other along "beat at least once" edges?

    Reachability by repeated squaring of (A | I), ⌈log2 M⌉ batched matrix products.
    """
    m = wins.shape[-1]
    reach = ((wins > 0) | np.eye(m, dtype=bool)).astype(np.float64)
    for _ in range(max(1, math.ceil(math.log2(max(m, 2))))):
        reach = ((reach @ reach) > 0).astype(np.float64)
    return np.asarray(reach.all(axis=(-1, -2)), dtype=np.bool_)
