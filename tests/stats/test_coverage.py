"""Seeded, vectorised coverage study of Wilson vs Clopper–Pearson (STATS.md §7.2)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from evalhub.stats import clopper_pearson_interval, wilson_interval

P_GRID = np.round(np.arange(0.40, 0.951, 0.05), 2)
N_GRID = np.array([20, 50, 200, 1000])
SIMS = 10_000


def exact_coverage(interval, p: np.ndarray, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Σ_k pmf(k)·1[p ∈ CI(k)] for each p."""
    k = np.arange(n + 1)
    low, high = interval(k, n)
    inside = (low[None, :] <= p[:, None]) & (p[:, None] <= high[None, :])
    return (binom.pmf(k[None, :], n, p[:, None]) * inside).sum(axis=1)


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240601)
    p = P_GRID[:, None, None]
    n = N_GRID[None, :, None]
    k = rng.binomial(n, p, size=(P_GRID.size, N_GRID.size, SIMS))
    w_low, w_high = wilson_interval(k, n)
    c_low, c_high = clopper_pearson_interval(k, n)
    wilson = ((w_low <= p) & (p <= w_high)).mean(axis=-1)
    strict = ((c_low <= p) & (p <= c_high)).mean(axis=-1)
    return wilson, strict


def test_wilson_mean_coverage_is_close_to_95(simulated: tuple[np.ndarray, np.ndarray]) -> None:
    wilson, _ = simulated
    mean_per_n = wilson.mean(axis=0)
    assert np.all(np.abs(mean_per_n - 0.95) < 0.01), mean_per_n
    assert wilson.min() > 0.91  # its known dips (0.917 at n = 20) but no collapse
    assert abs(wilson[:, N_GRID == 1000].mean() - 0.95) < 0.004


def test_clopper_pearson_is_conservative(simulated: tuple[np.ndarray, np.ndarray]) -> None:
    wilson, strict = simulated
    se = np.sqrt(0.95 * 0.05 / SIMS)
    assert strict.min() >= 0.95 - 4 * se
    assert np.all(strict.mean(axis=0) >= wilson.mean(axis=0))


def test_simulation_agrees_with_exact_coverage(simulated: tuple[np.ndarray, np.ndarray]) -> None:
    wilson, strict = simulated
    for j, n in enumerate(N_GRID):
        exact_w = exact_coverage(wilson_interval, P_GRID, int(n))
        exact_c = exact_coverage(clopper_pearson_interval, P_GRID, int(n))
        se = np.sqrt(exact_w * (1 - exact_w) / SIMS)
        assert np.all(np.abs(wilson[:, j] - exact_w) < 5 * se + 1e-4)
        se = np.sqrt(exact_c * (1 - exact_c) / SIMS)
        assert np.all(np.abs(strict[:, j] - exact_c) < 5 * se + 1e-4)


@pytest.mark.parametrize(
    ("p", "n", "wilson_exact", "cp_exact"),
    [(0.75, 20, 0.9348, 0.9618), (0.5, 50, 0.9351, 0.9672), (0.9, 200, 0.9561, 0.9669)],
)
def test_exact_coverage_matches_stats_md_table(
    p: float, n: int, wilson_exact: float, cp_exact: float
) -> None:
    grid = np.array([p])
    assert exact_coverage(wilson_interval, grid, n)[0] == pytest.approx(wilson_exact, abs=1e-4)
    assert exact_coverage(clopper_pearson_interval, grid, n)[0] == pytest.approx(cp_exact, abs=1e-4)
