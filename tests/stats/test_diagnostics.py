"""Position bias, slot bias, Krippendorff's α and per-rater outliers (STATS.md §4.3–4.4, §2.4)."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import binomtest

from evalhub.stats import (
    krippendorff_alpha_nominal,
    position_bias,
    rater_summary,
    value_counts_from_ratings,
    workbench_slot_test,
)


def test_position_bias_example_from_stats_md() -> None:
    # 900 decisive votes, 490 picked the left answer; p̂(FT left) = 0.733, p̂(FT right) = 0.644
    result = position_bias(330, 120, 290, 160)
    assert result.left_picks == 490 and result.n_decisive == 900
    assert result.p_value == pytest.approx(0.0084, abs=5e-5)
    assert result.left_share_ci_low == pytest.approx(0.512, abs=5e-4)
    assert result.left_share_ci_high == pytest.approx(0.577, abs=5e-4)
    assert result.balanced_support_rate == pytest.approx(0.689, abs=5e-4)
    assert 0 < result.interaction_p_value < 1


def test_position_bias_balanced_and_empty() -> None:
    balanced = position_bias(70, 30, 70, 30)
    assert balanced.balanced_support_rate == pytest.approx(0.7)
    assert balanced.p_value == 1.0
    empty = position_bias(0, 0, 0, 0)
    assert empty.left_share is None and empty.balanced_support_rate is None
    assert empty.p_value == 1.0
    one_sided = position_bias(5, 5, 0, 0)
    assert one_sided.support_rate_ft_right is None and one_sided.balanced_support_rate is None


def test_workbench_slot_chi_square_example() -> None:
    result = workbench_slot_test([310, 270, 230, 190])
    assert result.statistic == pytest.approx(32.0)
    assert result.df == 3
    assert result.p_value == pytest.approx(5.2e-7, rel=0.02)
    assert workbench_slot_test([0, 0, 0, 0]).p_value == 1.0


@st.composite
def value_count_tables(draw: st.DrawFn) -> np.ndarray:
    items = draw(st.integers(1, 40))
    categories = draw(st.integers(2, 5))
    return draw(arrays(np.int64, (items, categories), elements=st.integers(0, 4)))


@settings(max_examples=120, deadline=None)
@given(value_count_tables())
def test_krippendorff_matches_the_package_on_value_counts(table: np.ndarray) -> None:
    assume((table.sum(axis=1) >= 2).any())
    ours = krippendorff_alpha_nominal(table)
    with np.errstate(all="ignore"):
        ref = krippendorff.alpha(value_counts=table, level_of_measurement="nominal")
    if math.isnan(ref):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda raters: arrays(
            np.float64,
            (raters, 25),
            elements=st.sampled_from([np.nan, 0.0, 1.0, 2.0, 3.0]),
        )
    )
)
def test_krippendorff_matches_the_package_on_ratings(ratings: np.ndarray) -> None:
    present = ~np.isnan(ratings)
    assume(np.unique(ratings[present]).size >= 2)
    assume((present.sum(axis=0) >= 2).any())
    ours = krippendorff_alpha_nominal(ratings=ratings)
    with np.errstate(all="ignore"):
        ref = krippendorff.alpha(reliability_data=ratings, level_of_measurement="nominal")
    if math.isnan(ref):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-10)


def test_krippendorff_simulated_agreement() -> None:
    """1–5 raters per item, 4 categories, raters follow the item's true category 60% of the time."""
    rng = np.random.default_rng(10)
    truth = rng.integers(0, 4, 500)
    ratings = np.full((5, 500), np.nan)
    for rater in range(5):
        agree = rng.random(500) < 0.6
        ratings[rater] = np.where(agree, truth, rng.integers(0, 4, 500))
    n_raters = rng.integers(1, 6, 500)
    ratings[np.arange(5)[:, None] >= n_raters[None, :]] = np.nan
    ours = krippendorff_alpha_nominal(ratings=ratings)
    ref = krippendorff.alpha(reliability_data=ratings, level_of_measurement="nominal")
    assert ours == pytest.approx(ref, abs=1e-10)
    assert 0.3 < ours < 0.8
    counts = value_counts_from_ratings(ratings)
    assert counts.shape == (500, 4) and counts.sum() == np.count_nonzero(~np.isnan(ratings))


def test_krippendorff_degenerate_and_errors() -> None:
    assert math.isnan(krippendorff_alpha_nominal([[3, 0], [2, 0]]))  # one category only
    assert math.isnan(krippendorff_alpha_nominal([[1, 0], [0, 1]]))  # nothing pairable
    assert krippendorff_alpha_nominal([[2, 0], [0, 2]]) == 1.0
    with pytest.raises(ValueError):
        krippendorff_alpha_nominal()
    with pytest.raises(ValueError):
        krippendorff_alpha_nominal([[1, 1]], ratings=[[1.0]])


def test_rater_outliers_are_flagged_with_holm() -> None:
    rng = np.random.default_rng(6)
    n = rng.integers(80, 200, 30)
    rate = np.full(30, 0.7)
    rate[[4, 17]] = [0.25, 0.98]  # two raters far from the rest
    wins = rng.binomial(n, rate)
    summary = rater_summary(wins, n - wins)
    assert summary.outlier[4] and summary.outlier[17]
    assert summary.n_outliers <= 3
    pooled = wins.sum() / n.sum()
    for r in (0, 4, 17):
        ref = binomtest(int(wins[r]), int(n[r]), pooled).pvalue
        assert summary.p_value[r] == pytest.approx(ref, rel=1e-9)
    assert all(h >= p for h, p in zip(summary.p_value_holm, summary.p_value, strict=True))


def test_rater_summary_without_votes() -> None:
    summary = rater_summary([0, 3], [0, 1])
    assert summary.support_rate == (None, 0.75)
    assert summary.outlier == (False, False)
    empty = rater_summary([0], [0])
    assert empty.pooled_support_rate is None and empty.outlier == (False,)
    with pytest.raises(ValueError):
        rater_summary([1, 2], [1])
