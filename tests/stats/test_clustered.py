"""Design effect, Wilson(n_eff) and the prompt-cluster bootstrap (STATS.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

from evalhub.stats import (
    bootstrap_replicates,
    cluster_bootstrap,
    compress_types,
    design_effect,
    design_effect_model,
    pigeonhole_bootstrap,
    wilson_interval,
    wilson_neff_interval,
)
from tests.stats.conftest import clustered_counts


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    counts = clustered_counts(
        np.random.default_rng(2024), n_prompts=3000, votes_per_prompt=6, icc=0.3
    )
    return counts.wins, counts.wins + counts.losses


def test_model_based_design_effect_matches_stats_md() -> None:
    assert design_effect_model(3.75, 0.1, cv=np.sqrt(0.067)) == pytest.approx(1.30, abs=0.005)
    assert design_effect_model(3.75, 0.1) == pytest.approx(1.275)
    assert design_effect_model(2.25, 0.1) == pytest.approx(1.125)


def test_design_effect_recovers_the_model(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    w, n = clustered
    deff = design_effect(w, n)
    m_bar = n[n > 0].mean()
    cv2 = n[n > 0].var() / m_bar**2
    expected = design_effect_model(m_bar, 0.3, cv=np.sqrt(cv2))
    assert deff.design_effect == pytest.approx(expected, rel=0.12)
    assert deff.implied_icc == pytest.approx(0.3, abs=0.06)
    assert deff.clustered
    assert deff.n_eff == pytest.approx(deff.n / deff.design_effect)
    assert deff.n_prompts == int(np.count_nonzero(n))


def test_design_effect_is_near_one_without_clustering() -> None:
    rng = np.random.default_rng(1)
    n = rng.integers(1, 8, 4000)
    w = rng.binomial(n, 0.7)  # independent votes
    deff = design_effect(w, n)
    assert deff.design_effect_raw == pytest.approx(1.0, abs=0.08)


def test_design_effect_degenerate_inputs() -> None:
    assert design_effect([], []).design_effect == 1.0
    assert design_effect([5], [9]).design_effect_raw is None  # one prompt
    assert design_effect([3, 4], [3, 4]).design_effect_raw is None  # p̂ = 1
    one_each = design_effect([1, 0, 1, 1], [1, 1, 1, 1])
    assert not one_each.clustered  # CR1's J/(J−1) is not clustering
    with pytest.raises(ValueError):
        design_effect([3], [2])


def test_wilson_neff_interval(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    w, n = clustered
    low, high, deff = wilson_neff_interval(w, n)
    p_hat = w.sum() / n.sum()
    ref_low, ref_high = wilson_interval(p_hat * deff.n_eff, deff.n_eff)
    assert (low, high) == (float(ref_low), float(ref_high))
    iid_low, iid_high = wilson_interval(w.sum(), n.sum())
    assert low < iid_low and high > iid_high


def test_compress_types_is_a_lossless_summary() -> None:
    rng = np.random.default_rng(5)
    n = rng.integers(0, 12, 10_000)
    w = rng.binomial(n, 0.6)
    s, t, f = compress_types(w, n)
    assert f.sum() == w.size
    assert (f * s).sum() == w.sum() and (f * t).sum() == n.sum()
    assert len(set(zip(s, t, strict=True))) == s.size
    # half-integers (ties as half) use the packed path too
    s_half, _, f_half = compress_types(w + 0.5 * (n - w), n)
    assert (f_half * s_half).sum() == pytest.approx((w + 0.5 * (n - w)).sum())
    # arbitrary floats fall back to np.unique on rows
    s_f, _, f_f = compress_types([0.3, 0.3, 0.7], [1.0, 1.0, 2.0])
    assert list(f_f) == [2, 1] and list(s_f) == [0.3, 0.7]
    # huge counts use np.unique on packed keys
    _, t_big, f_big = compress_types([1, 10**7, 1], [2, 2 * 10**7, 2])
    assert list(f_big) == [2, 1] and list(t_big) == [2.0, 2e7]


def test_bootstrap_is_reproducible(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    w, n = clustered
    first = cluster_bootstrap(w, n, rng=123, resamples=500)
    second = cluster_bootstrap(w, n, rng=np.random.default_rng(123), resamples=500)
    assert first == second
    assert cluster_bootstrap(w, n, rng=124, resamples=500) != first
    reps = bootstrap_replicates(w, n, rng=7, resamples=300, method="gather")
    np.testing.assert_array_equal(
        reps, bootstrap_replicates(w, n, rng=7, resamples=300, method="gather")
    )


def test_bootstrap_is_close_to_wilson_neff(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    w, n = clustered
    low, high, deff = wilson_neff_interval(w, n)
    boot = cluster_bootstrap(w, n, rng=99, resamples=2000)
    assert boot.method == "types" and boot.n_types < boot.n_prompts / 9
    width = high - low
    assert abs(boot.ci_low - low) < 0.08 * width
    assert abs(boot.ci_high - high) < 0.08 * width
    se_cluster = np.sqrt(deff.var_cluster)
    assert boot.se == pytest.approx(se_cluster, rel=0.08)
    assert boot.estimate == pytest.approx(w.sum() / n.sum())


def test_types_gather_and_poisson_agree_in_distribution(
    clustered: tuple[np.ndarray, np.ndarray],
) -> None:
    w, n = clustered
    results = {
        method: cluster_bootstrap(w, n, rng=5, resamples=3000, method=method)
        for method in ("types", "gather", "poisson")
    }
    se = results["types"].se
    for method, result in results.items():
        assert result.method == method
        assert result.valid_resamples == 3000
        assert result.se == pytest.approx(se, rel=0.1)
        assert abs(result.ci_low - results["types"].ci_low) < 0.5 * se
        assert abs(result.ci_high - results["types"].ci_high) < 0.5 * se


def test_auto_picks_gather_when_types_are_many() -> None:
    rng = np.random.default_rng(8)
    n = rng.integers(50, 150, 500)  # many votes per prompt → K close to J
    w = rng.binomial(n, 0.65)
    result = cluster_bootstrap(w, n, rng=1, resamples=200)
    assert result.method == "gather"
    assert result.n_types > result.n_prompts / 9


def test_bootstrap_edge_cases() -> None:
    empty = cluster_bootstrap([0, 0], [0, 0], rng=1)
    assert empty.ci_low is None and empty.n_prompts == 0
    dropped = cluster_bootstrap([1, 0, 2], [2, 0, 3], rng=1, resamples=50)
    assert dropped.n_prompts == 2  # the prompt with no decisive votes is dropped
    with pytest.raises(ValueError):
        cluster_bootstrap([1], [2], rng=1, method="bca")
    with pytest.raises(ValueError):
        cluster_bootstrap([1], [2], rng=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cluster_bootstrap([1], [2], rng="seed")  # type: ignore[arg-type]


def test_pigeonhole_bootstrap_is_conservative(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    w, n = clustered
    rng = np.random.default_rng(3)
    raters = rng.integers(0, 40, w.size)  # one (prompt, rater) cell per prompt here
    prompt_only = cluster_bootstrap(w, n, rng=4, resamples=400)
    two_way = pigeonhole_bootstrap(np.arange(w.size), raters, w, n, rng=4, resamples=400)
    again = pigeonhole_bootstrap(np.arange(w.size), raters, w, n, rng=4, resamples=400)
    assert two_way == again
    assert two_way.ci_low < two_way.estimate < two_way.ci_high
    assert two_way.se >= 0.9 * prompt_only.se
