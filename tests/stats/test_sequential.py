"""Confidence sequence, anytime p-value and Wald SPRT (STATS.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaln

from evalhub.stats import (
    SprtDesign,
    anytime_p_values,
    beta_binomial_cs,
    confidence_sequence_path,
    normal_mixture_cs_radius,
    sprt_operating_characteristic,
    sprt_run,
    wilson_interval,
)

LOG_20 = math.log(20.0)


def log_mixture_martingale(wins: np.ndarray, losses: np.ndarray, p: float) -> np.ndarray:
    """ln M_n(p) with the a = b = ½ prior, straight from the definition."""
    return (
        betaln(0.5 + wins, 0.5 + losses)
        - betaln(0.5, 0.5)
        - wins * math.log(p)
        - losses * math.log(1 - p)
    )


@pytest.mark.parametrize(
    ("n", "low", "high"),
    [(100, 0.537, 0.834), (1000, 0.645, 0.751), (10_000, 0.682, 0.718)],
)
def test_cs_matches_stats_md_table(n: int, low: float, high: float) -> None:
    cs_low, cs_high = beta_binomial_cs(0.7 * n, 0.3 * n)
    assert float(cs_low) == pytest.approx(low, abs=5e-4)
    assert float(cs_high) == pytest.approx(high, abs=5e-4)
    w_low, w_high = wilson_interval(0.7 * n, n)
    assert (cs_high - cs_low) / (w_high - w_low) > 1.6  # the price of anytime validity


def test_cs_bounds_solve_the_defining_equation() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 5000, 200)
    wins = rng.binomial(n, rng.uniform(0.05, 0.95, 200)).astype(float)
    losses = n - wins
    low, high = beta_binomial_cs(wins, losses)
    assert low.shape == (200,)
    for i in range(200):
        for bound in (low[i], high[i]):
            if 0.0 < bound < 1.0:
                value = log_mixture_martingale(wins[i], losses[i], bound)
                assert value == pytest.approx(LOG_20, abs=1e-6)
        p_hat = wins[i] / n[i]
        assert low[i] <= p_hat <= high[i]


def test_cs_edge_cases() -> None:
    low, high = beta_binomial_cs(0, 0)
    assert (float(low), float(high)) == (0.0, 1.0)
    low, high = beta_binomial_cs(0, 30)
    assert float(low) == 0.0 and float(high) < 0.2
    low, high = beta_binomial_cs(30, 0)
    assert float(high) == 1.0 and float(low) > 0.8


@pytest.mark.parametrize("p_true", [0.5, 0.7])
def test_cs_covers_the_truth_uniformly_under_peeking(p_true: float) -> None:
    """Seeded: 2000 dashboards watched after every one of 1000 decisive votes."""
    rng = np.random.default_rng(17 if p_true == 0.5 else 18)
    outcomes = rng.random((2000, 1000)) < p_true
    wins = np.cumsum(outcomes, axis=1, dtype=np.float64)
    losses = np.arange(1, 1001)[None, :] - wins
    ever_excluded_cs = (log_mixture_martingale(wins, losses, p_true) >= LOG_20).any(axis=1).mean()
    w_low, w_high = wilson_interval(wins, wins + losses)
    ever_excluded_wilson = ((w_low > p_true) | (w_high < p_true)).any(axis=1).mean()
    assert ever_excluded_cs <= 0.05  # Ville: ≤ α over the whole trajectory
    assert ever_excluded_wilson > 0.3  # a fixed-n interval does not survive peeking


def test_path_intervals_agree_with_the_definition() -> None:
    rng = np.random.default_rng(4)
    outcomes = rng.random(800) < 0.65
    path = confidence_sequence_path(outcomes)
    inside = (path.lower <= 0.65) & (path.upper >= 0.65)
    by_definition = log_mixture_martingale(path.wins, path.losses, 0.65) < LOG_20
    np.testing.assert_array_equal(inside, by_definition)
    assert np.all(np.diff(path.running_lower) >= 0) and np.all(np.diff(path.running_upper) <= 0)
    assert np.all(path.running_lower >= path.lower) and np.all(path.running_upper <= path.upper)
    assert np.all(np.diff(path.p_value) <= 0)  # anytime p-values only go down
    assert path.p_value[-1] < 0.05  # 0.65 vs ½ after 800 votes


def test_anytime_p_value_keeps_its_size_under_the_null() -> None:
    rng = np.random.default_rng(9)
    outcomes = rng.random((2000, 1000)) < 0.5
    wins = np.cumsum(outcomes, axis=1, dtype=np.float64)
    losses = np.arange(1, 1001)[None, :] - wins
    p_values = np.minimum(
        1.0, np.exp(-np.maximum.accumulate(log_mixture_martingale(wins, losses, 0.5), axis=1))
    )
    assert (p_values[:, -1] <= 0.05).mean() <= 0.05
    row = anytime_p_values(wins[0], losses[0])
    np.testing.assert_allclose(row, p_values[0], rtol=1e-12)
    assert float(anytime_p_values(0, 0)) == 1.0


def test_sprt_boundaries_match_stats_md() -> None:
    design = SprtDesign()
    assert design.win_step == pytest.approx(0.33647, abs=1e-5)
    assert design.loss_step == pytest.approx(-0.51083, abs=1e-5)
    assert design.log_a == pytest.approx(2.89037, abs=1e-5)
    assert design.log_b == pytest.approx(-2.25129, abs=1e-5)
    assert design.slope == pytest.approx(0.602888, abs=1e-6)
    assert design.intercept_h1 == pytest.approx(3.41128, abs=1e-5)
    assert design.intercept_h0 == pytest.approx(-2.65703, abs=1e-5)
    with pytest.raises(ValueError):
        SprtDesign(p0=0.7, p1=0.5)


def test_sprt_decisions() -> None:
    rng = np.random.default_rng(12)
    strong = sprt_run(rng.random(500) < 0.85)
    assert strong.decision == "accept_h1" and strong.n < 100
    assert strong.llr >= SprtDesign().log_a
    null = sprt_run(rng.random(500) < 0.4)
    assert null.decision == "accept_h0"
    assert sprt_run([True, False, True]).decision == "continue"
    assert sprt_run([]).n == 0
    custom = SprtDesign(p0=0.5, p1=0.6, alpha=0.01, beta=0.05)
    assert sprt_run(rng.random(20_000) < 0.6, custom).decision == "accept_h1"


@pytest.mark.parametrize(
    ("p", "oc", "expected_n"),
    [
        (0.40, 0.997, 13.0),
        (0.50, 0.950, 22.9),
        (0.60, 0.580, 37.7),
        (0.65, 0.282, 36.1),
        (0.70, 0.100, 28.9),
        (0.80, 0.007, 17.1),
    ],
)
def test_sprt_wald_approximations(p: float, oc: float, expected_n: float) -> None:
    got_oc, got_n = sprt_operating_characteristic(p)
    assert got_oc == pytest.approx(oc, abs=1e-3)
    assert got_n == pytest.approx(expected_n, abs=0.06)


def test_sprt_simulated_error_rates() -> None:
    """Vectorised: 10,000 seeded SPRTs at p = 0.5 and p = 0.7 (truncated at 400 votes)."""
    design = SprtDesign()
    rng = np.random.default_rng(31)
    for p_true, accept_h1_low, accept_h1_high in ((0.5, 0.0, 0.055), (0.7, 0.9, 1.0)):
        outcomes = rng.random((10_000, 400)) < p_true
        wins = np.cumsum(outcomes, axis=1)
        llr = design.llr(wins, np.arange(1, 401)[None, :] - wins)
        crossed = (llr >= design.log_a) | (llr <= design.log_b)
        assert crossed.any(axis=1).all()
        first = crossed.argmax(axis=1)
        accept_h1 = (llr[np.arange(10_000), first] >= design.log_a).mean()
        assert accept_h1_low <= accept_h1 <= accept_h1_high


def test_normal_mixture_radius() -> None:
    m = np.array([10, 100, 1000, 10_000])
    radius = normal_mixture_cs_radius(m, rho=0.03 * 1000)
    assert np.all(np.diff(radius) < 0) and np.all(radius > 0)
    assert float(normal_mixture_cs_radius(0, rho=1.0)) == math.inf
