"""Several votes per prompt: design effect, Wilson on n_eff, prompt-cluster bootstrap (STATS.md §2).

Inputs are per-prompt sums: ``successes`` w_j (FT wins; or w_j + ½(t_j + b_j) for the
ties-as-half rate) and ``trials`` n_j (decisive votes; or all votes N_j). Prompts with n_j = 0
do not change the ratio and are dropped before anything is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from evalhub.stats._arrays import FloatArray, IntArray, RngLike, as_float_array, resolve_rng
from evalhub.stats.intervals import wilson_interval

BOOTSTRAP_METHODS = ("auto", "types", "gather", "poisson")
_GATHER_CHUNK_ELEMENTS = 4_000_000  # index-gather works on chunk × J blocks of this size
_BINCOUNT_SLACK = 1 << 16


@dataclass(frozen=True)
class DesignEffect:
    """Cluster-robust design effect of the ratio estimator p̂ = Σw_j / Σn_j (§2.2)."""

    design_effect: float  # D̂eff floored at 1 (1 when it cannot be estimated)
    design_effect_raw: float | None  # Var_cluster / Var_iid, None when undefined
    n: float  # Σ n_j
    n_eff: float  # n / design_effect
    n_prompts: int  # prompts with n_j > 0
    mean_cluster_size: float  # m̄ = n / n_prompts (0 when no prompts)
    cv2: float  # squared coefficient of variation of the n_j
    var_cluster: float | None  # CR1 sandwich variance of p̂
    var_iid: float | None  # p̂(1 − p̂)/n
    implied_icc: float | None  # ρ solving D̂eff = 1 + ((1 + CV²)m̄ − 1)ρ

    @property
    def clustered(self) -> bool:
        """Whether the votes cluster enough to change the interval (D̂eff > 1, m̄ > 1)."""
        raw = self.design_effect_raw
        return raw is not None and raw > 1.0 and self.mean_cluster_size > 1.0


def design_effect(successes: ArrayLike, trials: ArrayLike) -> DesignEffect:
    """D̂eff = Var_cluster / Var_iid with Var_cluster = J/(J−1)·Σ(w_j − p̂n_j)²/N² (§2.2)."""
    s, n = _drop_empty(successes, trials)
    total = float(n.sum())
    j = int(n.size)
    if j == 0:
        return DesignEffect(1.0, None, 0.0, 0.0, 0, 0.0, 0.0, None, None, None)
    m_bar = total / j
    cv2 = float(n.var() / (m_bar * m_bar))
    p_hat = float(s.sum()) / total
    var_iid = p_hat * (1.0 - p_hat) / total
    if j < 2 or var_iid <= 0.0:
        return DesignEffect(1.0, None, total, total, j, m_bar, cv2, None, var_iid, None)
    resid = s - p_hat * n
    var_cluster = j / (j - 1) * float(np.sum(resid * resid)) / (total * total)
    raw = var_cluster / var_iid
    deff = max(1.0, raw)
    icc_denominator = (1.0 + cv2) * m_bar - 1.0
    icc = (raw - 1.0) / icc_denominator if icc_denominator > 0 else None
    return DesignEffect(deff, raw, total, total / deff, j, m_bar, cv2, var_cluster, var_iid, icc)


def design_effect_model(mean_cluster_size: float, icc: float, cv: float = 0.0) -> float:
    """Model-based Deff = 1 + ((1 + CV²)·m̄ − 1)·ρ (Eldridge, Ashby & Kerry 2006; CV = 0: equal sizes)."""
    return 1.0 + ((1.0 + cv * cv) * mean_cluster_size - 1.0) * icc


def wilson_neff_interval(
    successes: ArrayLike, trials: ArrayLike, *, confidence: float = 0.95
) -> tuple[float, float, DesignEffect]:
    """Wilson on (p̂·n_eff, n_eff), n_eff = N / max(1, D̂eff): the clustered default CI."""
    deff = design_effect(successes, trials)
    if deff.n <= 0:
        return 0.0, 1.0, deff
    p_hat = float(np.sum(as_float_array(successes))) / deff.n
    low, high = wilson_interval(p_hat * deff.n_eff, deff.n_eff, confidence=confidence)
    return float(low), float(high), deff


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile prompt-cluster bootstrap of a ratio Σw/Σn (§2.3)."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None  # standard deviation of the replicates
    confidence: float
    method: str  # "types", "gather" or "poisson" (the one actually used)
    resamples: int
    valid_resamples: int  # replicates with a non-zero denominator
    n_prompts: int
    n_types: int  # distinct (w_j, n_j) pairs; for the pigeonhole bootstrap, (prompt, rater) cells


def cluster_bootstrap(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    rng: RngLike,
    resamples: int = 2000,
    method: str = "auto",
    confidence: float = 0.95,
) -> BootstrapResult:
    """Prompt-cluster bootstrap CI for Σw/Σn, exact and vectorised over count types (§2.4).

    ``types``: resampling J prompts is a multinomial over the K distinct (w_j, n_j) pairs,
    ``M = rng.multinomial(J, f/J, size=R)``, so ``p* = (M @ w_k) / (M @ n_k)`` costs O(R·K).
    ``gather``: chunked index-gather, O(R·J), faster when K approaches J.
    ``auto``: types when K ≤ J/9, else gather. ``poisson``: type-level Poisson bootstrap
    ``M ~ Poisson(f)`` (streaming/sharded data; not exactly the multinomial bootstrap).
    """
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be one of {BOOTSTRAP_METHODS}, got {method!r}")
    if resamples < 1:
        raise ValueError("resamples must be positive")
    generator = resolve_rng(rng)
    s, n = _drop_empty(successes, trials)
    j = int(n.size)
    if j == 0:
        return BootstrapResult(None, None, None, None, confidence, method, resamples, 0, 0, 0)
    type_s, type_n, freq = compress_types(s, n)
    k = int(freq.size)
    used = method
    if method == "auto":
        used = "types" if k <= j / 9 else "gather"
    replicates = _replicates(used, s, n, type_s, type_n, freq, resamples, generator)
    valid = replicates[np.isfinite(replicates)]
    estimate = float(s.sum() / n.sum())
    if valid.size == 0:
        return BootstrapResult(estimate, None, None, None, confidence, used, resamples, 0, j, k)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(valid, [tail, 1.0 - tail])
    se = float(valid.std(ddof=1)) if valid.size > 1 else 0.0
    return BootstrapResult(
        estimate, float(low), float(high), se, confidence, used, resamples, int(valid.size), j, k
    )


def bootstrap_replicates(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    rng: RngLike,
    resamples: int = 2000,
    method: str = "types",
) -> FloatArray:
    """The R bootstrap ratios p*_r themselves (NaN where a resample has no trials)."""
    if method not in BOOTSTRAP_METHODS or method == "auto":
        raise ValueError("method must be 'types', 'gather' or 'poisson'")
    s, n = _drop_empty(successes, trials)
    if n.size == 0:
        return np.full(resamples, np.nan)
    type_s, type_n, freq = compress_types(s, n)
    return _replicates(method, s, n, type_s, type_n, freq, resamples, resolve_rng(rng))


def compress_types(
    successes: ArrayLike, trials: ArrayLike
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Distinct (w, n) pairs and their frequencies f_k (Σ f_k = J).

    Integer and half-integer counts are packed into one int64 key and counted with
    ``np.bincount`` (O(J)); anything else falls back to ``np.unique`` on rows.
    """
    s = as_float_array(successes).ravel()
    n = as_float_array(trials).ravel()
    s2, n2 = 2.0 * s, 2.0 * n
    if s.size and np.all(s2 == np.round(s2)) and np.all(n2 == np.round(n2)) and s2.min() >= 0:
        a = s2.astype(np.int64)
        b = n2.astype(np.int64)
        base = int(b.max()) + 1
        if (int(a.max()) + 1) * base < 2**62:
            keys = a * base + b
            top = int(keys.max()) + 1
            if top <= 8 * keys.size + _BINCOUNT_SLACK:
                counts = np.bincount(keys, minlength=top)
                unique_keys = np.flatnonzero(counts)
                freq = counts[unique_keys]
            else:
                unique_keys, freq = np.unique(keys, return_counts=True)
            return (unique_keys // base) / 2.0, (unique_keys % base) / 2.0, freq.astype(np.int64)
    rows, freq = np.unique(np.column_stack([s, n]), axis=0, return_counts=True)
    return rows[:, 0].copy(), rows[:, 1].copy(), freq.astype(np.int64)


def pigeonhole_bootstrap(
    prompt_index: ArrayLike,
    rater_index: ArrayLike,
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    rng: RngLike,
    resamples: int = 200,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Two-way (prompt × rater) pigeonhole bootstrap, Owen 2007 (§2.4 "Rater correlation").

    Inputs are per (prompt, rater) cells. Prompts and raters are resampled independently and a
    cell gets weight m_prompt · m_rater. Known to be conservative: use as an upper bound.
    """
    generator = resolve_rng(rng)
    p_idx = np.asarray(prompt_index, dtype=np.int64).ravel()
    r_idx = np.asarray(rater_index, dtype=np.int64).ravel()
    s = as_float_array(successes).ravel()
    n = as_float_array(trials).ravel()
    _, p_idx = np.unique(p_idx, return_inverse=True)
    _, r_idx = np.unique(r_idx, return_inverse=True)
    n_prompts, n_raters = int(p_idx.max(initial=-1)) + 1, int(r_idx.max(initial=-1)) + 1
    if n.sum() <= 0:
        return BootstrapResult(None, None, None, None, confidence, "pigeonhole", resamples, 0, 0, 0)
    chunk = max(1, _GATHER_CHUNK_ELEMENTS // max(1, s.size + n_prompts + n_raters))
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        m_prompt = _multiplicities(generator, n_prompts, size)
        m_rater = _multiplicities(generator, n_raters, size)
        weight = m_prompt[:, p_idx] * m_rater[:, r_idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + size] = (weight @ s) / (weight @ n)
    valid = out[np.isfinite(out)]
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(valid, [tail, 1.0 - tail])
    return BootstrapResult(
        float(s.sum() / n.sum()),
        float(low),
        float(high),
        float(valid.std(ddof=1)),
        confidence,
        "pigeonhole",
        resamples,
        int(valid.size),
        n_prompts,
        int(s.size),
    )


def _replicates(
    method: str,
    s: FloatArray,
    n: FloatArray,
    type_s: FloatArray,
    type_n: FloatArray,
    freq: IntArray,
    resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    j = int(n.size)
    if method == "types":
        counts = rng.multinomial(j, freq / j, size=resamples).astype(np.float64)
    elif method == "poisson":
        counts = rng.poisson(freq.astype(np.float64), size=(resamples, freq.size)).astype(
            np.float64
        )
    else:
        return _gather(s, n, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (counts @ type_s) / (counts @ type_n)


def _gather(s: FloatArray, n: FloatArray, resamples: int, rng: np.random.Generator) -> FloatArray:
    j = int(n.size)
    chunk = max(1, _GATHER_CHUNK_ELEMENTS // j)
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, j, size=(size, j))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + size] = s[idx].sum(axis=1) / n[idx].sum(axis=1)
    return out


def _multiplicities(rng: np.random.Generator, size: int, rows: int) -> FloatArray:
    draws = rng.integers(0, size, size=(rows, size))
    offsets = (np.arange(rows) * size)[:, None]
    return (
        np.bincount((draws + offsets).ravel(), minlength=rows * size)
        .reshape(rows, size)
        .astype(np.float64)
    )


def _drop_empty(successes: ArrayLike, trials: ArrayLike) -> tuple[FloatArray, FloatArray]:
    s = as_float_array(successes).ravel()
    n = as_float_array(trials).ravel()
    if s.shape != n.shape:
        raise ValueError("successes and trials must have the same length")
    if np.any(n < 0) or np.any(s < 0) or np.any(s > n) or not np.all(np.isfinite(s + n)):
        raise ValueError("need 0 <= successes <= trials per prompt")
    keep = n > 0
    return s[keep], n[keep]
