"""Every reference vector of shared/data/support_rate_vectors.json, every field, to 1e-9."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binom, binomtest

from evalhub.stats import (
    DEFAULT_BANDS,
    LITERAL_BANDS,
    clopper_pearson_interval,
    jeffreys_interval,
    sign_test,
    support_rate_report,
    ties_half_interval,
    wilson_cc_interval,
    wilson_interval,
    z_value,
)

TOL = 1e-9
DATA = Path(__file__).parent / "data" / "support_rate_vectors.json"
SHARED_COPIES = [
    Path(__file__).resolve().parents[2] / "shared" / "data" / "support_rate_vectors.json",
    Path("/work/shared/data/support_rate_vectors.json"),
]
VECTORS: dict[str, Any] = json.loads(DATA.read_text())
CASES: list[dict[str, Any]] = VECTORS["vectors"]

# Fields each case carries and where the tests below check them.
CHECKED_FIELDS = {
    "id",
    "note",  # metadata
    "wins",
    "losses",
    "ties",
    "both_bad",
    "n_decisive",
    "n_total",
    "support_rate",
    "wilson_95",
    "clopper_pearson_95",
    "wilsoncc_95",
    "jeffreys_95",
    "p_value_two_sided",
    "p_value_greater",
    "log10_p_value_two_sided",
    "p_value_score_two_sided",
    "wilson_excludes_0_5",
    "exact_test_rejects_at_0_05",
    "_xcheck",
    "band_point",
    "band_point_literal",
    "verdict_wilson",
    "verdict_wilson_literal",
    "verdict_clopper_pearson",
    "n_decisive_needed_at_phat",
    "additional_decisive_votes_at_phat",
    "ties_half_rate",
    "ties_half_tango_95",
    "ties_half_wilson_effective_95",
    "tie_rate",
    "both_bad_rate",
}


def close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return abs(actual - expected) <= TOL


def ids(case: dict[str, Any]) -> str:
    return f"{case['id']:02d}-{case['wins']}-{case['losses']}-{case['ties']}-{case['both_bad']}"


def test_file_shape_and_constants() -> None:
    assert len(CASES) == 39
    assert VECTORS["confidence_level"] == 0.95
    assert z_value(0.95) == pytest.approx(VECTORS["z"], abs=1e-15)
    for case in CASES:
        assert set(case) <= CHECKED_FIELDS, f"unchecked fields {set(case) - CHECKED_FIELDS}"
    for name, diff in VECTORS["cross_check_max_abs_diff"].items():
        assert diff < TOL, name


def test_local_copy_matches_shared() -> None:
    shared = next((p for p in SHARED_COPIES if p.exists()), None)
    if shared is None:
        pytest.skip("no shared/ checkout here")
    assert json.loads(shared.read_text()) == VECTORS


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_report_matches_vector(case: dict[str, Any]) -> None:
    w, lo, t, b = case["wins"], case["losses"], case["ties"], case["both_bad"]
    report = support_rate_report(w, lo, t, b)

    assert (report.wins, report.losses, report.ties, report.both_bad) == (w, lo, t, b)
    assert report.n_decisive == case["n_decisive"]
    assert report.n_votes == case["n_total"]
    assert close(report.support_rate, case["support_rate"])
    assert report.ci_method == "wilson"
    assert report.confidence == 0.95
    assert close(report.ci_low, case["wilson_95"][0])
    assert close(report.ci_high, case["wilson_95"][1])
    assert close(report.wilson_ci_low, case["wilson_95"][0])
    assert close(report.wilson_ci_high, case["wilson_95"][1])
    assert close(report.clopper_pearson_ci_low, case["clopper_pearson_95"][0])
    assert close(report.clopper_pearson_ci_high, case["clopper_pearson_95"][1])
    assert close(report.p_value, case["p_value_two_sided"])
    assert close(report.p_value_greater, case["p_value_greater"])
    assert close(report.log10_p, case["log10_p_value_two_sided"])
    assert close(report.p_value_score, case["p_value_score_two_sided"])
    assert report.band == case["band_point"]
    assert report.verdict == case["verdict_wilson"]
    assert close(report.tie_rate, case["tie_rate"])
    assert close(report.both_bad_rate, case["both_bad_rate"])
    assert close(report.ties_half_rate, case["ties_half_rate"])
    assert close(report.ties_half_ci_low, case["ties_half_tango_95"][0])
    assert close(report.ties_half_ci_high, case["ties_half_tango_95"][1])
    assert report.decisive_votes_needed == case["n_decisive_needed_at_phat"]
    assert report.additional_decisive_votes == case["additional_decisive_votes_at_phat"]
    assert report.design_effect == 1.0


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_literal_and_strict_verdicts(case: dict[str, Any]) -> None:
    w, lo, t, b = case["wins"], case["losses"], case["ties"], case["both_bad"]
    literal = support_rate_report(w, lo, t, b, bands=LITERAL_BANDS, interval="wilson")
    assert literal.band == case["band_point_literal"]
    assert literal.verdict == case["verdict_wilson_literal"]
    strict = support_rate_report(w, lo, t, b, interval="clopper_pearson")
    assert strict.ci_method == "clopper_pearson"
    assert strict.verdict == case["verdict_clopper_pearson"]
    assert DEFAULT_BANDS.band_of_rate(w, lo) == case["band_point"]
    assert LITERAL_BANDS.band_of_rate(w, lo) == case["band_point_literal"]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_interval_functions_match_vector(case: dict[str, Any]) -> None:
    w, lo, t, b = case["wins"], case["losses"], case["ties"], case["both_bad"]
    n = w + lo
    for func, field in (
        (wilson_interval, "wilson_95"),
        (clopper_pearson_interval, "clopper_pearson_95"),
        (wilson_cc_interval, "wilsoncc_95"),
        (jeffreys_interval, "jeffreys_95"),
    ):
        low, high = func(w, n)
        assert close(float(low), case[field][0]), field
        assert close(float(high), case[field][1]), field
    low, high = ties_half_interval(w, lo, t + b)
    assert close(float(low), case["ties_half_tango_95"][0])
    assert close(float(high), case["ties_half_tango_95"][1])
    total = n + t + b
    low, high = wilson_interval(w + 0.5 * (t + b), total)
    assert close(float(low), case["ties_half_wilson_effective_95"][0])
    assert close(float(high), case["ties_half_wilson_effective_95"][1])


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_tests_and_flags_match_vector(case: dict[str, Any]) -> None:
    w, lo = case["wins"], case["losses"]
    test = sign_test(w, lo)
    assert close(test.p_value, case["p_value_two_sided"])
    assert close(test.p_value_greater, case["p_value_greater"])
    assert close(test.log10_p, case["log10_p_value_two_sided"])
    assert close(test.p_value_score, case["p_value_score_two_sided"])
    assert (test.p_value < 0.05) == case["exact_test_rejects_at_0_05"]
    low, high = wilson_interval(w, w + lo)
    assert (float(low) > 0.5 or float(high) < 0.5) == case["wilson_excludes_0_5"]


@pytest.mark.parametrize("case", [c for c in CASES if c["_xcheck"]], ids=ids)
def test_cross_checks_against_scipy(case: dict[str, Any]) -> None:
    """Reproduce the `_xcheck` comparisons: our intervals and p-value vs scipy's own."""
    w, lo = case["wins"], case["losses"]
    n = w + lo
    assert all(diff < TOL for diff in case["_xcheck"].values())
    result = binomtest(w, n, 0.5)
    scipy_wilson = result.proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(w, n)
    assert abs(float(low) - scipy_wilson.low) < 1e-12
    assert abs(float(high) - scipy_wilson.high) < 1e-12
    scipy_exact = result.proportion_ci(0.95, method="exact")
    low, high = clopper_pearson_interval(w, n)
    assert abs(float(low) - scipy_exact.low) < TOL
    assert abs(float(high) - scipy_exact.high) < TOL
    twice_tail = min(1.0, 2.0 * float(binom.cdf(min(w, lo), n, 0.5)))
    assert result.pvalue == twice_tail
    if twice_tail > 0:
        assert math.isclose(sign_test(w, lo).p_value, twice_tail, rel_tol=1e-12)
