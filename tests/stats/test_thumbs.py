"""Thumbs up/down comparisons (STATS.md §4.2)."""

from __future__ import annotations

import pytest
from scipy.stats import boschloo_exact
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from evalhub.stats import tango_difference_interval, thumbs_paired, thumbs_unpaired


def test_paired_example_from_stats_md() -> None:
    result = thumbs_paired(540, 140, 80, 240)
    assert result.n_pairs == 1000
    assert result.rate_ft == 0.68 and result.rate_base == 0.62
    assert result.difference == pytest.approx(0.06)
    assert result.ci_low == pytest.approx(0.031, abs=5e-4)
    assert result.ci_high == pytest.approx(0.089, abs=5e-4)
    ref = mcnemar([[540, 80], [140, 240]], exact=True).pvalue
    assert result.p_value == pytest.approx(ref, rel=1e-12)
    assert result.p_value == pytest.approx(6.3e-5, rel=0.01)
    low, high = tango_difference_interval(140, 80, 1000)
    assert (result.ci_low, result.ci_high) == (float(low), float(high))


def test_paired_degenerate() -> None:
    same = thumbs_paired(10, 0, 0, 5)
    assert same.p_value == 1.0 and same.difference == 0.0
    assert same.ci_low < 0 < same.ci_high
    empty = thumbs_paired(0, 0, 0, 0)
    assert empty.rate_ft is None and (empty.ci_low, empty.ci_high) == (-1.0, 1.0)


def test_unpaired_large_uses_score_test() -> None:
    result = thumbs_unpaired(680, 1000, 620, 1000)
    assert result.test == "score"
    assert result.ci_low == pytest.approx(0.0182, abs=1e-4)
    assert result.ci_high == pytest.approx(0.1015, abs=1e-4)
    ref_low, ref_high = confint_proportions_2indep(680, 1000, 620, 1000, method="newcomb")
    assert result.ci_low == pytest.approx(ref_low, abs=1e-12)
    assert result.ci_high == pytest.approx(ref_high, abs=1e-12)
    assert result.p_value == pytest.approx(proportions_ztest([680, 620], [1000, 1000])[1], rel=1e-9)


def test_unpaired_small_uses_boschloo() -> None:
    result = thumbs_unpaired(14, 20, 7, 20)
    assert result.test == "boschloo"
    ref = boschloo_exact([[14, 7], [6, 13]], alternative="two-sided").pvalue
    assert result.p_value == pytest.approx(ref, rel=1e-12)
    forced = thumbs_unpaired(14, 20, 7, 20, exact=False)
    assert forced.test == "score"
    assert forced.p_value == pytest.approx(0.0267, abs=1e-4)


def test_unpaired_validation() -> None:
    with pytest.raises(ValueError):
        thumbs_unpaired(5, 4, 1, 2)
    with pytest.raises(ValueError):
        thumbs_unpaired(0, 0, 1, 2)
