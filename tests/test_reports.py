"""Campaign reports: the numbers the selectors produce match evalhub.stats (and scipy /
statsmodels / krippendorff directly) on the same counts; what counts and what does not."""

from __future__ import annotations

from datetime import timedelta

import krippendorff
import numpy as np
import pytest
from django.utils import timezone
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from evalhub.models import Label, Vote
from evalhub.selectors.reports import campaign_report
from evalhub.services.rating import vote_correct
from evalhub.stats import beta_binomial_cs, support_rate_report
from tests.test_reports_data import (
    OUTCOME_CODE,
    add_votes,
    label_prompts,
    make_campaign,
    per_prompt_counts,
)

pytestmark = pytest.mark.django_db

C, B, T, X = "candidate", "baseline", "tie", "both_bad"
# 12 prompts x 3 judges; prompts lean one way or the other, so votes cluster (Deff > 1).
PLAN = [
    [C, C, C], [C, C, B], [C, C, C], [B, B, C], [C, T, C], [C, C, X],
    [B, B, B], [C, C, C], [T, T, C], [C, B, C], [C, C, C], [X, B, X],
]  # fmt: skip


def _judge_counts(plan):
    counts = np.zeros((3, 4), dtype=np.int64)
    for votes in plan:
        for k, outcome in enumerate(votes):
            counts[k, OUTCOME_CODE[outcome]] += 1
    return counts


def test_report_matches_stats_on_the_same_counts():
    campaign = make_campaign(n_prompts=len(PLAN))
    add_votes(campaign, PLAN)
    report = campaign_report(campaign, seed=7)

    counts = per_prompt_counts(PLAN)
    judges = _judge_counts(PLAN)
    expected = support_rate_report(
        counts[:, 0],
        counts[:, 1],
        counts[:, 2],
        counts[:, 3],
        rater_wins=judges[:, 0],
        rater_losses=judges[:, 1],
        agreement_value_counts=counts.astype(float),
        bootstrap_resamples=2000,
        rng=7,
    ).to_dict()
    exact = ["n_votes", "wins", "losses", "ties", "both_bad", "n_decisive", "n_prompts"]
    exact += ["ci_method", "band", "verdict", "verdict_text", "bootstrap_method"]
    exact += ["additional_votes", "additional_decisive_votes", "bootstrap_resamples"]
    for key in exact:
        assert report[key] == expected[key], key
    close = ["support_rate", "ci_low", "ci_high", "p_value", "log10_p", "anytime_ci_low"]
    close += ["anytime_ci_high", "tie_rate", "both_bad_rate", "ties_half_rate", "design_effect"]
    close += ["n_eff", "bootstrap_ci_low", "bootstrap_ci_high", "agreement_alpha"]
    for key in close:
        assert report[key] == pytest.approx(expected[key], abs=1e-12), key

    # ... and against the libraries directly, not only through evalhub.stats.
    w, lo = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    assert (report["wins"], report["losses"], report["n_votes"]) == (w, lo, 36)
    assert report["support_rate"] == pytest.approx(w / (w + lo))
    assert report["p_value"] == pytest.approx(binomtest(w, w + lo, 0.5).pvalue, rel=1e-9)
    assert report["ci_method"] == "wilson_neff" and report["design_effect"] > 1
    n_eff = (w + lo) / report["design_effect"]
    low, high = proportion_confint(w / (w + lo) * n_eff, n_eff, alpha=0.05, method="wilson")
    assert (report["ci_low"], report["ci_high"]) == pytest.approx((low, high), abs=1e-9)
    ratings = np.array([[OUTCOME_CODE[votes[k]] for votes in PLAN] for k in range(3)], float)
    alpha = krippendorff.alpha(reliability_data=ratings, level_of_measurement="nominal")
    assert report["agreement"]["krippendorff_alpha"] == pytest.approx(alpha, abs=1e-9)
    assert report["n_raters"] == 3 and report["planned_votes"] == len(PLAN) * 3
    assert report["verdict"] == "between:no_progress..significant_improvement"
    assert "between no progress and significant improvement" in report["summary"]


def test_superseded_votes_do_not_count(make_user):
    campaign = make_campaign(n_prompts=2)
    votes = add_votes(campaign, [[C, C], [B, C]])
    before = campaign_report(campaign, bootstrap=False)
    assert (before["wins"], before["losses"], before["ties"]) == (3, 1, 0)

    vote_correct(vote=votes[0], choice="tie", corrected_by=make_user("pm9", "pm"))
    after = campaign_report(campaign, bootstrap=False)
    assert Vote.objects.filter(campaign=campaign).count() == 5  # the old vote stays as history
    assert (after["n_votes"], after["wins"], after["losses"], after["ties"]) == (4, 2, 1, 1)


def test_simulated_votes_are_counted_and_reported_or_left_out_on_request():
    campaign = make_campaign(n_prompts=2)
    add_votes(campaign, [[C], [C]])
    add_votes(campaign, [[B, B], [B, B]], judges=["sim-a", "sim-b"], simulated=True)
    report = campaign_report(campaign, bootstrap=False)
    assert (report["n_votes"], report["n_simulated"], report["losses"]) == (6, 4, 4)
    assert "Includes 4 simulated votes." in report["summary"]
    human = campaign_report(campaign, bootstrap=False, include_simulated=False)
    assert (human["n_votes"], human["n_simulated"], human["losses"]) == (2, 0, 0)


def test_a_vote_counts_toward_every_label_of_its_prompt():
    campaign = make_campaign(n_prompts=3)
    add_votes(campaign, [[C, C], [B, T], [C, X]])
    parent = Label.objects.create(name="support")
    Label.objects.create(name="billing", parent=parent)
    label_prompts(campaign, [["billing", "refunds"], ["billing"], []])
    by_label = {row["label"]: row for row in campaign_report(campaign, bootstrap=False)["by_label"]}

    assert set(by_label) == {"billing", "refunds"}  # the unlabelled prompt is in no label
    billing, refunds = by_label["billing"], by_label["refunds"]
    assert (billing["n_votes"], billing["wins"], billing["losses"], billing["ties"]) == (4, 2, 1, 1)
    assert (refunds["n_votes"], refunds["wins"], refunds["losses"]) == (2, 2, 0)
    assert billing["parent"] == "support" and refunds["parent"] is None


def test_label_rows_match_a_full_report_on_that_labels_prompts():
    plan = [[C, C, C, C], [B, B, B, C], [C, C, C, T], [C, C, B, B], [C, C, C, C], [B, X, B, B]]
    campaign = make_campaign(n_prompts=len(plan))
    add_votes(campaign, plan)
    labels = [["a"], ["a", "b"], ["a"], ["b"], ["a", "b"], ["b"]]
    label_prompts(campaign, labels)
    counts = per_prompt_counts(plan)
    rows = {row["label"]: row for row in campaign_report(campaign, bootstrap=False)["by_label"]}
    for name in ("a", "b"):
        mine = counts[[j for j, names in enumerate(labels) if name in names]]
        expected = support_rate_report(*(mine[:, i] for i in range(4))).to_dict()
        row = rows[name]
        for key in ("n_votes", "wins", "losses", "ci_method", "band", "verdict", "verdict_text"):
            assert row[key] == expected[key], (name, key)
        for key in ("ci_low", "ci_high", "p_value", "design_effect", "anytime_ci_low"):
            assert row[key] == pytest.approx(expected[key], abs=1e-9), (name, key)
    assert rows["a"]["ci_method"] == "wilson_neff"  # clustered: the interval widens


def test_labels_are_sorted_by_evidence():
    campaign = make_campaign(n_prompts=4)
    add_votes(campaign, [[C, C, C], [C, C, B], [C, B, B], [C, C, C]])
    label_prompts(campaign, [["weak"], ["weak"], ["weak", "strong"], ["strong"]])
    Label.objects.create(name="unused")
    report = campaign_report(campaign, bootstrap=False)
    names = [row["label"] for row in report["by_label"]]
    z = [abs(row["z"]) for row in report["by_label"]]
    assert z == sorted(z, reverse=True) and "unused" not in names


def test_channels_are_separate_slices():
    campaign = make_campaign(n_prompts=2)
    add_votes(campaign, [[C, C], [C, C]], channel="rating")
    add_votes(campaign, [[B], [B]], judges=["agent-1"], channel="workbench-ui")
    channels = {
        row["slice"]: row for row in campaign_report(campaign, bootstrap=False)["by_channel"]
    }
    assert (channels["rating"]["wins"], channels["rating"]["losses"]) == (4, 0)
    assert (channels["workbench-ui"]["wins"], channels["workbench-ui"]["losses"]) == (0, 2)


def test_per_rater_table(make_user):
    raters = [make_user(f"rater-{k}") for k in range(3)]
    n = 16
    campaign = make_campaign(n_prompts=n)
    # rater-0 and rater-1 prefer the candidate on 12 of 16 prompts; rater-2 never does.
    leaning = [C] * 12 + [B] * 4
    plans = [leaning, leaning, [B] * n]
    sides = ["left", "right", "left"]  # where each rater is shown the candidate
    for k, ms in enumerate([3_200, 12_000, 800]):
        add_votes(
            campaign,
            [[outcome] for outcome in plans[k]],
            raters=[raters[k]],
            sides=[[sides[k]]] * n,
            time_taken_ms=ms,
        )
    report = campaign_report(campaign, by="rater", bootstrap=False)
    rows = {row["rater"]: row for row in report["by_rater"]}

    assert set(rows) == {"rater-0", "rater-1", "rater-2"}
    assert [rows[f"rater-{k}"]["outlier"] for k in range(3)] == [False, False, True]
    assert report["n_rater_outliers"] == 1
    # rater-0 on the first 12 prompts: the others split C / B, a tie that includes C: agrees.
    assert rows["rater-0"]["agreement_with_majority"] == 1.0
    assert rows["rater-2"]["agreement_with_majority"] == 4 / 16
    assert rows["rater-0"]["n_pairable"] == n
    assert rows["rater-0"]["left_pick_share"] == 12 / 16  # candidate left, picked 12 times
    assert rows["rater-1"]["left_pick_share"] == 4 / 16  # candidate right, baseline picked 4x
    assert rows["rater-2"]["left_pick_share"] == 0.0  # candidate left, never picked
    assert 3 <= rows["rater-0"]["median_time_s"] < 4
    assert 12 <= rows["rater-1"]["median_time_s"] < 13
    assert rows["rater-2"]["median_time_s"] < 1
    assert (rows["rater-0"]["wins"], rows["rater-2"]["losses"]) == (12, n)


def test_per_day_series_is_cumulative_with_a_confidence_sequence():
    campaign = make_campaign(n_prompts=3)
    start = timezone.now() - timedelta(days=3)
    add_votes(campaign, [[C, C], [C, B]], created_at=start)
    add_votes(
        campaign,
        [[T], [C], [C, C, B]],
        judges=["judge-9", "judge-8", "judge-7"],
        created_at=start + timedelta(days=2),
    )
    days = campaign_report(campaign, by="day", bootstrap=False)["by_day"]

    assert [d["day"] for d in days] == [
        start.date().isoformat(),
        (start + timedelta(days=2)).date().isoformat(),
    ]
    assert [(d["wins"], d["losses"], d["ties"]) for d in days] == [(3, 1, 0), (3, 1, 1)]
    assert [(d["cum_wins"], d["cum_losses"], d["cum_n_votes"]) for d in days] == [
        (3, 1, 4),
        (6, 2, 9),
    ]
    low, high = beta_binomial_cs(np.array([3, 6]), np.array([1, 2]))
    assert [d["anytime_ci_low"] for d in days] == pytest.approx(low.tolist())
    assert [d["anytime_ci_high"] for d in days] == pytest.approx(high.tolist())
    assert days[1]["anytime_running_low"] >= days[0]["anytime_running_low"]


def test_position_bias_counts_left_picks():
    campaign = make_campaign(n_prompts=10)
    plan = [[C, C, B] for _ in range(10)]
    add_votes(campaign, plan, sides=[["left", "left", "right"]] * 10)  # every pick is left
    bias = campaign_report(campaign, bootstrap=False)["position_bias"]
    assert (bias["left_picks"], bias["n_decisive"], bias["left_share"]) == (30, 30, 1.0)
    assert bias["p_value"] == pytest.approx(binomtest(30, 30, 0.5).pvalue)
    assert bias["support_rate_ft_left"] == 1.0 and bias["support_rate_ft_right"] == 0.0


def test_a_campaign_without_votes_reports_insufficient_data():
    report = campaign_report(make_campaign(n_prompts=2), by=("rater", "day"))
    assert report["n_votes"] == 0 and report["support_rate"] is None
    assert report["verdict"] == "insufficient_data"
    assert report["by_label"] == [] and report["by_rater"] == [] and report["by_day"] == []
    assert "no decisive votes yet" in report["summary"]


def test_a_settled_verdict_reads_like_a_release_note():
    campaign = make_campaign(n_prompts=50)
    plan = [[C] * 15 + [B] * 5 for _ in range(50)]  # 750 / 250, no clustering
    add_votes(campaign, plan, judges=[f"j{k}" for k in range(20)])
    report = campaign_report(campaign, bootstrap=False)
    assert report["verdict"] == "successful" and report["ci_method"] == "wilson"
    assert report["summary"].startswith(
        "camp-finetuned-model-XYZ vs camp-base-model-XYZ: the fine-tune is preferred in 75.0% "
        "of decisive votes (95% CI 72.2–77.6%, 1,000 votes from 20 raters over 50 prompts; "
        "0% ties, 0% both bad). Verdict: successful. The exact test against 50% gives p < 1e-30."
    )


def test_unknown_breakdown_is_refused():
    from evalhub.services.errors import InvalidInput

    with pytest.raises(InvalidInput):
        campaign_report(make_campaign(n_prompts=1), by="prompt")


def _report_queries(campaign, by):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        campaign_report(campaign, by=by, bootstrap=False)
    return len(queries)


def test_report_query_count_does_not_grow_with_votes_or_labels(make_user):
    raters = [make_user(f"qq{k}") for k in range(2)]
    small = make_campaign(name="small", n_prompts=2)
    add_votes(small, [[C, B], [T, C]], raters=raters)
    label_prompts(small, [["one"], []])
    large = make_campaign(name="large", n_prompts=20)
    add_votes(large, [[C, B, C, X, T, C][: 2 + j % 4] for j in range(20)], judges=list("abcdef"))
    add_votes(large, [[B, C] for _ in range(20)], raters=raters)
    label_prompts(large, [[f"l{j}", f"l{(j + 1) % 20}", "shared"] for j in range(20)])
    for by in (None, ("rater", "day")):
        assert _report_queries(small, by) == _report_queries(large, by)
    assert _report_queries(large, None) == 7  # + gold answers and exclusions (rater quality)
    assert _report_queries(large, ("rater", "day")) == 10
