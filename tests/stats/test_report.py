"""support_rate_report: edge cases, clustering, optional diagnostics, JSON output."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from evalhub.stats import (
    LITERAL_BANDS,
    OUTCOME_BOTH_BAD,
    OUTCOME_LOSS,
    OUTCOME_TIE,
    OUTCOME_WIN,
    Bands,
    aggregate_votes,
    log10_sign_test_p_value,
    support_rate_report,
    wilson_interval,
)
from tests.stats.conftest import clustered_counts

DICT_KEYS = {
    "n_votes",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "support_rate",
    "ci_low",
    "ci_high",
    "ci_method",
    "confidence",
    "p_value",
    "log10_p",
    "band",
    "verdict",
    "tie_rate",
    "tie_rate_ci_low",
    "tie_rate_ci_high",
    "both_bad_rate",
    "both_bad_rate_ci_low",
    "both_bad_rate_ci_high",
    "both_bad_flag",
    "ties_half_rate",
    "ties_half_ci_low",
    "ties_half_ci_high",
    "design_effect",
    "n_eff",
    "bootstrap_ci_low",
    "bootstrap_ci_high",
    "additional_decisive_votes",
    "additional_votes",
}


def assert_plain_json(value: Any) -> None:
    """Only JSON-native Python types, all the way down (no numpy scalars, no NaN)."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str
            assert_plain_json(v)
    elif isinstance(value, list):
        for v in value:
            assert_plain_json(v)
    else:
        assert value is None or type(value) in (bool, int, float, str), type(value)
        if type(value) is float:
            assert math.isfinite(value)


def test_no_votes() -> None:
    report = support_rate_report(0, 0, 0, 0)
    assert report.n_votes == 0 and report.n_decisive == 0
    assert report.support_rate is None
    assert (report.ci_low, report.ci_high) == (0.0, 1.0)
    assert report.p_value == 1.0 and report.log10_p == 0.0
    assert report.verdict == "insufficient_data" and report.band is None
    assert report.tie_rate is None and report.both_bad_rate is None
    assert report.ties_half_rate is None
    assert report.decisive_votes_needed is None and report.additional_votes is None
    assert not report.better_than_base
    assert_plain_json(report.to_dict())
    # empty per-prompt arrays behave the same
    assert support_rate_report([], [], [], []).to_dict() == report.to_dict() | {"n_prompts": 0}


def test_only_ties() -> None:
    report = support_rate_report(0, 0, 5, 0)
    assert report.support_rate is None and report.verdict == "insufficient_data"
    assert report.tie_rate == 1.0 and report.both_bad_rate == 0.0
    assert report.ties_half_rate == 0.5
    assert report.ties_half_ci_low == pytest.approx(0.2827587676084126, abs=1e-12)
    assert report.ties_half_ci_high == pytest.approx(0.7172412323915873, abs=1e-12)


def test_all_wins() -> None:
    report = support_rate_report(20, 0)
    assert report.support_rate == 1.0
    assert report.ci_high == 1.0  # exactly
    assert report.ci_low == pytest.approx(0.83887, abs=1e-5)
    assert report.verdict == "significant_improvement"
    assert report.better_than_base
    assert support_rate_report(0, 20).ci_low == 0.0


@pytest.mark.parametrize(
    ("wins", "losses", "expected"),
    [(75_000, 25_000, -5683.153017145291), (100_000, 0, -30102.69853640245)],
)
def test_underflowing_p_value_has_a_finite_log10(wins: int, losses: int, expected: float) -> None:
    report = support_rate_report(wins, losses)
    assert report.p_value == 0.0
    assert report.log10_p == pytest.approx(expected, abs=1e-9)
    assert report.verdict in ("successful", "significant_improvement")


def test_log10_paths_agree_where_both_work() -> None:
    wins, losses = 3000, 1000  # p ≈ 1e-225: representable, still far in the tail
    p = binomtest(wins, wins + losses).pvalue
    assert 0 < p < 1e-200
    direct = math.log10(p)
    forced_log_space = log10_sign_test_p_value(wins, losses, p_value=0.0)
    assert forced_log_space == pytest.approx(direct, abs=1e-9)
    big = support_rate_report(750_000, 250_000)
    assert big.p_value == 0.0 and math.isfinite(big.log10_p) and big.log10_p < -50_000


def test_to_dict_is_plain_json_with_the_contract_keys() -> None:
    counts = clustered_counts(np.random.default_rng(3), n_prompts=300, votes_per_prompt=5)
    report = support_rate_report(
        counts.wins,
        counts.losses,
        counts.ties,
        counts.both_bad,
        wins_ft_left=counts.wins // 2,
        losses_ft_left=counts.losses // 2,
        rater_wins=[40, 50, 60],
        rater_losses=[20, 25, 10],
        slot_picks=[10, 12, 9, 11],
        agreement_value_counts=[[2, 1, 0], [3, 0, 0], [0, 2, 1]],
        bootstrap_resamples=200,
        rng=1,
    )
    data = report.to_dict()
    assert set(data) >= DICT_KEYS
    assert_plain_json(data)
    json.dumps(data, allow_nan=False)
    assert isinstance(data["position"], dict) and isinstance(data["raters"]["outlier"], list)


def test_clustered_data_uses_wilson_on_n_eff() -> None:
    counts = clustered_counts(np.random.default_rng(7), n_prompts=400, votes_per_prompt=8)
    report = support_rate_report(counts.wins, counts.losses, counts.ties, counts.both_bad)
    assert report.ci_method == "wilson_neff"
    assert report.design_effect > 1.5
    assert report.n_eff == pytest.approx(report.n_decisive / report.design_effect)
    low, high = wilson_interval(report.support_rate * report.n_eff, report.n_eff)
    assert (report.ci_low, report.ci_high) == (float(low), float(high))
    assert report.ci_low < report.wilson_ci_low and report.ci_high > report.wilson_ci_high
    # planning accounts for the design effect and the non-decisive share
    if report.additional_decisive_votes:
        assert report.additional_votes >= report.additional_decisive_votes
    forced = support_rate_report(
        counts.wins, counts.losses, counts.ties, counts.both_bad, interval="wilson"
    )
    assert forced.ci_method == "wilson"
    assert any("ignores clustering" in w for w in forced.warnings)


def test_one_vote_per_prompt_is_not_clustered() -> None:
    rng = np.random.default_rng(11)
    outcome = rng.choice(4, size=500, p=[0.5, 0.3, 0.15, 0.05])
    counts = aggregate_votes(np.arange(500), outcome)
    report = support_rate_report(counts.wins, counts.losses, counts.ties, counts.both_bad)
    assert report.ci_method == "wilson" and report.design_effect == 1.0
    pooled = support_rate_report(
        int(counts.wins.sum()),
        int(counts.losses.sum()),
        int(counts.ties.sum()),
        int(counts.both_bad.sum()),
    )
    assert report.ci_low == pooled.ci_low and report.ci_high == pooled.ci_high


def test_few_prompts_warns() -> None:
    counts = clustered_counts(np.random.default_rng(5), n_prompts=10, votes_per_prompt=20, icc=0.5)
    report = support_rate_report(counts.wins, counts.losses, counts.ties, counts.both_bad)
    assert report.ci_method == "wilson_neff"
    assert any("design effect is noisy" in w for w in report.warnings)


def test_bootstrap_is_seeded_and_close_to_wilson_neff() -> None:
    counts = clustered_counts(np.random.default_rng(21), n_prompts=3000, votes_per_prompt=6)
    args = (counts.wins, counts.losses, counts.ties, counts.both_bad)
    first = support_rate_report(*args, bootstrap_resamples=2000, rng=42)
    again = support_rate_report(*args, bootstrap_resamples=2000, rng=np.random.default_rng(42))
    other = support_rate_report(*args, bootstrap_resamples=2000, rng=43)
    assert first.to_dict() == again.to_dict()
    assert first.bootstrap_ci_low != other.bootstrap_ci_low
    assert first.bootstrap_method == "types"
    width = first.ci_high - first.ci_low
    assert abs(first.bootstrap_ci_low - first.ci_low) < 0.1 * width
    assert abs(first.bootstrap_ci_high - first.ci_high) < 0.1 * width
    with pytest.raises(ValueError, match="rng"):
        support_rate_report(*args, bootstrap_resamples=10)


def test_literal_mode_uses_clopper_pearson() -> None:
    report = support_rate_report(60, 40, bands=LITERAL_BANDS)
    assert report.ci_method == "clopper_pearson"
    assert report.delta == 0.0
    # CP excludes ½ exactly when the exact test rejects (§3.3): 60/40 does neither
    assert report.verdict == "between:damaged..not_ideal" and report.p_value > 0.05


def test_both_bad_quality_flag() -> None:
    report = support_rate_report(40, 20, 10, 30)
    assert report.both_bad_rate == 0.3 and report.both_bad_flag
    assert any("both-bad" in w for w in report.warnings)
    assert not support_rate_report(40, 20, 10, 30, both_bad_threshold=0.5).both_bad_flag


def test_position_and_rater_inputs() -> None:
    rater_wins = [60] * 10 + [20]  # ten raters at 0.6 and one at 0.2
    rater_losses = [40] * 10 + [80]
    report = support_rate_report(
        620,
        280,
        wins_ft_left=330,
        losses_ft_left=120,
        rater_wins=rater_wins,
        rater_losses=rater_losses,
    )
    assert report.position is not None
    assert report.position.left_picks == 330 + (280 - 120)
    assert report.position.balanced_support_rate == pytest.approx(0.5 * (330 / 450 + 290 / 450))
    assert report.raters is not None and report.raters.outlier == (False,) * 10 + (True,)
    with pytest.raises(ValueError, match="exceed"):
        support_rate_report(10, 10, wins_ft_left=11, losses_ft_left=0)


def test_planning_fields() -> None:
    report = support_rate_report(75, 25, 25, 0)
    assert report.verdict == "between:not_ideal..significant_improvement"
    assert report.decisive_votes_needed == 323
    assert report.additional_decisive_votes == 223
    assert report.additional_votes == math.ceil(223 / 0.8)
    assert report.additional_decisive_votes_at_power == 638 - 100
    settled = support_rate_report(750, 250)
    assert settled.additional_decisive_votes == 0 and settled.additional_votes_at_power == 0


def test_custom_bands_and_text() -> None:
    report = support_rate_report(750, 250)
    assert report.verdict_text == "Successful (95% CI 72.2–77.6%)"
    wide = support_rate_report(75, 25)
    assert wide.verdict_text.startswith("Between not ideal and significant improvement")
    strict_bands = Bands(delta=0.02, successful_from=0.72, significant_above=0.85)
    assert support_rate_report(71, 29, bands=strict_bands).band == "not_ideal"
    with pytest.raises(ValueError):
        Bands(delta=0.25)


@pytest.mark.parametrize(
    "bad",
    [
        {"wins": [-1], "losses": [2]},
        {"wins": [1.5], "losses": [2]},
        {"wins": [1, 2], "losses": [1, 2, 3]},
        {"wins": [[1, 2]], "losses": [[1, 2]]},
    ],
)
def test_invalid_counts_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        support_rate_report(bad["wins"], bad["losses"])


def test_invalid_interval_name() -> None:
    with pytest.raises(ValueError, match="interval"):
        support_rate_report(1, 1, interval="wald")


def test_aggregate_votes_matches_a_naive_count() -> None:
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, 50, 2000)
    outcome = rng.integers(0, 4, 2000)
    counts = aggregate_votes(prompt, outcome, n_prompts=60)
    assert counts.wins.shape == (60,)
    for j in (0, 17, 49, 59):
        chosen = outcome[prompt == j]
        assert counts.wins[j] == np.sum(chosen == OUTCOME_WIN)
        assert counts.losses[j] == np.sum(chosen == OUTCOME_LOSS)
        assert counts.ties[j] == np.sum(chosen == OUTCOME_TIE)
        assert counts.both_bad[j] == np.sum(chosen == OUTCOME_BOTH_BAD)
    with pytest.raises(ValueError):
        aggregate_votes([0, 1], [0, 4])
