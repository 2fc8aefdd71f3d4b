"""Gold-based exclusion changes the report as predicted (issue 8).

Three raters vote through the real rating service on a campaign with two gold items. Two answer
the gold items right; the third answers them wrong and always prefers the baseline. The test
keeps its own tally of every vote it cast, computes the support rate before and after excluding
the third rater by hand, and checks the report (JSON through the API, CSV, text and the CLI)
against it; the intervals are recomputed from the hand tallies through ``evalhub.stats``.
"""

from __future__ import annotations

import io
import json
import random
from collections import defaultdict

import numpy as np
import pytest
from django.core.management import call_command

from evalhub.models import Comparison, Vote
from evalhub.models.campaigns import Outcome
from evalhub.selectors.quality import campaign_rater_quality
from evalhub.selectors.reports import campaign_report, report_csv
from evalhub.services.quality import comparison_mark_gold, rater_exclude
from evalhub.services.rating import assignment_next, vote_record
from evalhub.stats import support_rate_report
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db

OUTCOME_INDEX = {"candidate": 0, "baseline": 1, "tie": 2, "both_bad": 3}


class AlwaysGold(random.Random):
    """Every reservation asks for a check first (served while unseen checks remain)."""

    def random(self) -> float:
        return 0.0


def choice_for(outcome: str, candidate_side: str) -> str:
    if outcome in ("tie", "both_bad"):
        return outcome
    other = "right" if candidate_side == "left" else "left"
    return candidate_side if outcome == "candidate" else other


def rate_all(campaign, rater, decide, tally) -> None:
    """Vote on everything the service serves this rater; ``decide(comparison) -> outcome``."""
    while (
        assignment := assignment_next(campaign=campaign, rater=rater, rng=AlwaysGold())
    ) is not None:
        comparison = assignment.comparison
        outcome = decide(comparison)
        vote_record(
            rater=rater,
            token=assignment.token,
            choice=choice_for(outcome, assignment.candidate_side),
        )
        tally.append(
            (rater.username, comparison.pk, comparison.prompt_id, comparison.is_gold, outcome)
        )


@pytest.fixture
def voted(make_user):
    campaign = open_campaign_with_outputs(n_prompts=8, votes_per_prompt=3, name="gold")
    campaign.gold_share, campaign.gold_min_answers, campaign.gold_min_accuracy = 0.2, 2, 0.7
    campaign.save()
    gold = list(Comparison.objects.filter(campaign=campaign).order_by("id")[:2])
    for comparison in gold:
        comparison_mark_gold(comparison=comparison, outcome=Outcome.CANDIDATE)
    real_ids = list(
        Comparison.objects.filter(campaign=campaign, is_gold=False)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    # Real judgements: good raters prefer the candidate on 5 of the 6 prompts (loses the last).
    good = {pk: (Outcome.CANDIDATE if i < 5 else Outcome.BASELINE) for i, pk in enumerate(real_ids)}
    good[real_ids[1]] = Outcome.TIE  # one tie, left out of the rate
    tally: list[tuple] = []
    raters = {name: make_user(name, "rater") for name in ("good-a", "good-b", "sloppy")}
    for name in ("good-a", "good-b"):
        rate_all(campaign, raters[name], lambda c: c.gold_outcome or good[c.pk], tally)
    rate_all(campaign, raters["sloppy"], lambda c: Outcome.BASELINE, tally)
    return campaign, raters, tally


def expected(tally, *, leave_out=()) -> dict:
    """Per-prompt W, L, T, B counts of the real (non-gold) votes, by hand."""
    per_prompt: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for rater, _pk, prompt_id, is_gold, outcome in tally:
        if is_gold or rater in leave_out:
            continue
        per_prompt[prompt_id][OUTCOME_INDEX[outcome]] += 1
    counts = np.array(list(per_prompt.values()), dtype=np.int64)
    wins, losses = int(counts[:, 0].sum()), int(counts[:, 1].sum())
    stats = support_rate_report(*(counts[:, i] for i in range(4)), bootstrap_resamples=0)
    return {
        "n_votes": int(counts.sum()),
        "wins": wins,
        "losses": losses,
        "support_rate": wins / (wins + losses),
        "ci_low": stats.ci_low,
        "ci_high": stats.ci_high,
        "band": stats.band,
        "verdict": stats.verdict,
    }


def test_everyone_saw_both_gold_items_once(voted):
    campaign, raters, tally = voted
    for name in raters:
        gold_seen = [pk for r, pk, _, is_gold, _ in tally if r == name and is_gold]
        assert len(gold_seen) == 2 and len(set(gold_seen)) == 2
    assert len(tally) == 2 * 3 + 6 * 3  # every rater: both checks and all six real items
    assert Vote.objects.filter(campaign=campaign).count() == len(tally)


def test_gold_votes_are_left_out_of_the_support_rate(voted):
    campaign, _raters, tally = voted
    report = campaign_report(campaign, bootstrap=False)
    want = expected(tally)
    assert report["n_votes"] == want["n_votes"] == 18
    assert (report["wins"], report["losses"]) == (want["wins"], want["losses"]) == (8, 8)
    assert report["support_rate"] == pytest.approx(want["support_rate"])
    quality = report["quality"]
    assert quality["n_gold_items"] == 2 and quality["gold_answers"] == 6
    assert quality["gold_correct"] == 4
    assert quality["check_accuracy"] == pytest.approx(4 / 6)
    assert quality["before_exclusion"] is None and quality["n_excluded_votes"] == 0
    assert "6 answers to gold items and attention checks are left out" in report["summary"]


def test_quality_flags_the_rater_who_fails_the_gold_items(voted):
    campaign, _raters, _tally = voted
    rows = {r.username: r for r in campaign_rater_quality(campaign=campaign)}
    assert rows["sloppy"].answered == 2 and rows["sloppy"].correct == 0 and rows["sloppy"].flagged
    assert rows["sloppy"].ci_low == 0.0 and 0.6 < rows["sloppy"].ci_high < 0.7  # Wilson, 0 of 2
    assert rows["good-a"].accuracy == 1.0 and not rows["good-a"].flagged
    assert not any(r.excluded for r in rows.values())


def test_gold_based_exclusion_changes_the_report_as_predicted(voted, pm, api_client):
    campaign, raters, tally = voted
    before, after = expected(tally), expected(tally, leave_out={"sloppy"})
    # By hand: good raters 2 x (4 wins, 1 loss, 1 tie); sloppy 6 losses.
    assert (before["wins"], before["losses"]) == (8, 8)
    assert (after["wins"], after["losses"]) == (8, 2)
    assert after["support_rate"] == pytest.approx(0.8)

    api_client.force_authenticate(pm)
    response = api_client.post(
        f"/api/v1/campaigns/{campaign.pk}/exclusions", {"flagged": True}, format="json"
    )
    assert response.status_code == 201, response.content
    assert [row["rater"] for row in response.json()] == ["sloppy"]
    assert response.json()[0]["gold_answers"] == 2 and response.json()[0]["gold_accuracy"] == 0.0

    report = api_client.get(f"/api/v1/campaigns/{campaign.pk}/report?bootstrap=false").json()
    for key in (
        "n_votes",
        "wins",
        "losses",
        "support_rate",
        "ci_low",
        "ci_high",
        "band",
        "verdict",
    ):
        assert report[key] == pytest.approx(after[key]), key
    quality = report["quality"]
    assert quality["n_excluded_votes"] == before["n_votes"] - after["n_votes"] == 6
    assert [r["rater"] for r in quality["excluded_raters"]] == ["sloppy"]
    for key in (
        "n_votes",
        "wins",
        "losses",
        "support_rate",
        "ci_low",
        "ci_high",
        "band",
        "verdict",
    ):
        assert quality["before_exclusion"][key] == pytest.approx(before[key]), key
        assert quality["after_exclusion"][key] == pytest.approx(after[key]), key
    assert "6 votes of 1 excluded rater are left out" in report["summary"]
    assert "with them the rate was 50.0%" in report["summary"]  # 8 / 16

    csv_rows = report_csv(report).splitlines()
    assert csv_rows[2].startswith("before_exclusion,before excluding raters,18,8,8,")

    out = io.StringIO()
    call_command("report", str(campaign.pk), "--format", "json", "--no-bootstrap", stdout=out)
    cli = json.loads(out.getvalue())
    assert cli["support_rate"] == pytest.approx(0.8)
    assert cli["quality"]["before_exclusion"]["support_rate"] == pytest.approx(8 / 16)

    # Votes are never deleted; bringing the rater back restores the first numbers.
    assert Vote.objects.filter(campaign=campaign, rater=raters["sloppy"]).count() == 8
    response = api_client.delete(
        f"/api/v1/campaigns/{campaign.pk}/exclusions/{raters['sloppy'].pk}"
    )
    assert response.status_code == 204
    again = campaign_report(campaign, bootstrap=False)
    assert (again["wins"], again["losses"]) == (8, 8)
    assert again["quality"]["before_exclusion"] is None


def test_dashboard_lists_and_leaderboard_leave_excluded_votes_out(voted, pm):
    from evalhub.selectors.reports.dashboard import campaign_summaries

    campaign, raters, tally = voted
    rater_exclude(campaign=campaign, rater=raters["sloppy"], reason="fails gold", actor=pm)
    row = next(s for s in campaign_summaries() if s["campaign"].pk == campaign.pk)
    assert (row["wins"], row["losses"]) == (8, 2)
    after = expected(tally, leave_out={"sloppy"})
    assert row["ci_low"] == pytest.approx(after["ci_low"])


def test_exclusions_cost_one_query_and_are_filtered_in_the_database(
    voted, pm, django_assert_num_queries
):
    from evalhub.selectors.reports.campaign import campaign_counts

    campaign, raters, _tally = voted
    with django_assert_num_queries(6):  # 7 in tests/test_reports.py: no labels here
        campaign_counts(campaign)
    rater_exclude(campaign=campaign, rater=raters["sloppy"], actor=pm)
    with django_assert_num_queries(7) as captured:
        counts = campaign_counts(campaign)
    grouped = [q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"]]
    assert grouped and all("evalhub_raterexclusion" in sql for sql in grouped[:2])
    assert counts.groups.counts.sum() == 12  # one row per group came back, not one per vote
