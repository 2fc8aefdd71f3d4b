"""Property-based checks against scipy and statsmodels (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from evalhub.stats import (
    binom_test_two_sided,
    clopper_pearson_interval,
    holm_adjust,
    jeffreys_interval,
    newcombe_difference_interval,
    sign_test,
    tango_difference_interval,
    ties_half_interval,
    wilson_cc_interval,
    wilson_interval,
)
from evalhub.stats.intervals import _tango_z

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def k_and_n(draw: st.DrawFn, max_n: int = 5000) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=max_n))
    k = draw(st.integers(min_value=0, max_value=n))
    return k, n


@FAST
@given(k_and_n())
def test_wilson_equals_statsmodels(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = wilson_interval(k, n)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert abs(float(low) - ref_low) < 1e-12
    assert abs(float(high) - ref_high) < 1e-12


@FAST
@given(k_and_n())
def test_clopper_pearson_and_jeffreys_equal_statsmodels(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = clopper_pearson_interval(k, n)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="beta")
    assert abs(float(low) - ref_low) < 1e-12
    assert abs(float(high) - ref_high) < 1e-12
    low, high = jeffreys_interval(k, n)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="jeffreys")
    assert abs(float(low) - ref_low) < 1e-12
    assert abs(float(high) - ref_high) < 1e-12


@FAST
@given(k_and_n(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_cc_equals_scipy(kn: tuple[int, int], confidence: float) -> None:
    k, n = kn
    ref = binomtest(k, n).proportion_ci(confidence, method="wilsoncc")
    low, high = wilson_cc_interval(k, n, confidence=confidence)
    assert abs(float(low) - max(0.0, ref.low)) < 1e-12
    assert abs(float(high) - min(1.0, ref.high)) < 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(k_and_n(2000), min_size=1, max_size=50))
def test_intervals_are_vectorised(pairs: list[tuple[int, int]]) -> None:
    k = np.array([p[0] for p in pairs])
    n = np.array([p[1] for p in pairs])
    for func in (wilson_interval, clopper_pearson_interval, wilson_cc_interval, jeffreys_interval):
        low, high = func(k, n)
        assert low.shape == high.shape == k.shape
        for i in range(k.size):
            one_low, one_high = func(int(k[i]), int(n[i]))
            assert float(one_low) == low[i] and float(one_high) == high[i]
        assert np.all(low <= high)


@FAST
@given(k_and_n(3000))
def test_sign_test_p_values_equal_binomtest(kn: tuple[int, int]) -> None:
    k, n = kn
    test = sign_test(k, n - k)
    assert test.p_value == binomtest(k, n, 0.5).pvalue
    assert test.p_value_greater == binomtest(k, n, 0.5, alternative="greater").pvalue
    if test.p_value > 1e-300:
        assert abs(test.log10_p - math.log10(test.p_value)) < 1e-9


@FAST
@given(
    st.integers(min_value=1, max_value=400).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n), st.floats(0.01, 0.99))
    )
)
def test_vectorised_two_sided_binomial_equals_binomtest(args: tuple[int, int, float]) -> None:
    k, n, p0 = args
    ours = float(binom_test_two_sided(k, n, p0))
    assert math.isclose(ours, binomtest(k, n, p0).pvalue, rel_tol=1e-9, abs_tol=1e-15)


def naive_holm(p_values: list[float]) -> list[float]:
    """Holm's step-down procedure written out from its definition."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_equals_its_definition(p_values: list[float]) -> None:
    np.testing.assert_allclose(holm_adjust(p_values), naive_holm(p_values), atol=1e-12)


def test_holm_equals_statsmodels() -> None:
    p_values = [0.01, 0.04, 0.03, 0.2, 0.001, 0.5, 0.04]
    ref = multipletests(p_values, method="holm")[1]
    np.testing.assert_allclose(holm_adjust(p_values), ref, atol=1e-12)


@FAST
@given(k_and_n(100_000))
def test_tango_without_ties_reduces_to_wilson(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = ties_half_interval(k, n - k, 0)
    w_low, w_high = wilson_interval(k, n)
    assert abs(float(low) - float(w_low)) < 1e-9
    assert abs(float(high) - float(w_high)) < 1e-9


@FAST
@given(
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(0, 300),
)
def test_tango_bounds_solve_the_score_equation(b: int, c: int, ties: int) -> None:
    n = b + c + ties
    assume(n > 0)
    low, high = tango_difference_interval(b, c, n)
    low, high = float(low), float(high)
    point = (b - c) / n
    assert -1.0 <= low <= point <= high <= 1.0
    z = 1.959963984540054
    args = (np.float64(b), np.float64(c), np.float64(n))
    if low > -1.0:  # |Z| = z at an interior bound
        assert abs(float(_tango_z(np.float64(low), *args)) - z) < 1e-6
    if high < 1.0:
        assert abs(float(_tango_z(np.float64(high), *args)) + z) < 1e-6
    # contains the ties-as-half point estimate on the rate scale
    s_low, s_high = ties_half_interval(b, c, ties)
    assert float(s_low) <= (b + 0.5 * ties) / n <= float(s_high)


@FAST
@given(k_and_n(3000), k_and_n(3000))
def test_newcombe_equals_statsmodels(first: tuple[int, int], second: tuple[int, int]) -> None:
    (x1, n1), (x2, n2) = first, second
    low, high = newcombe_difference_interval(x1, n1, x2, n2)
    ref_low, ref_high = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb")
    assert abs(float(low) - ref_low) < 1e-12
    assert abs(float(high) - ref_high) < 1e-12
