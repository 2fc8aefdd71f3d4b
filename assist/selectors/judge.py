"""Reads about judge runs: counts, position bias, agreement with the human majority, and the
per-campaign picture (human support rate beside the judge's).

Human votes are the campaign's live, non-simulated votes (corrections applied); a comparison's
human majority is the most frequent outcome with both-bad read as a tie, and a tie between
outcomes read as a tie. Judge verdicts that are inconsistent across orders count as ties;
invalid ones are left out and reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count, QuerySet

from assist.judging import agreement
from assist.models import JudgeRun, JudgeVerdict
from evalhub.models import Campaign
from evalhub.selectors.reports.counts import live_votes
from evalhub.stats.diagnostics import position_bias
from evalhub.stats.intervals import wilson_interval


def judge_runs_list(*, campaign: Campaign | None = None) -> QuerySet[JudgeRun]:
    runs = JudgeRun.objects.select_related(
        "judge", "campaign", "labeling_task", "approved_by", "job"
    )
    if campaign is not None:
        runs = runs.filter(campaign=campaign)
    return runs.order_by("-created_at", "-id")


def _rate(wins: int, losses: int) -> dict[str, Any]:
    n = wins + losses
    low, high = wilson_interval(wins, n)
    return {
        "wins": wins,
        "losses": losses,
        "support_rate": wins / n if n else None,
        "ci_low": float(low) if n else None,
        "ci_high": float(high) if n else None,
    }


def _position(verdicts: list[tuple[str, str, str]]) -> dict[str, Any] | None:
    """Slot-A picks among decisive per-order verdicts (candidate_slot, ab, ba)."""
    w_l = l_l = w_r = l_r = 0  # "left" = slot A; W/L = candidate won / lost
    for slot, ab, ba in verdicts:
        for cand_slot, said in ((slot, ab), ("B" if slot == "A" else "A", ba)):
            if said not in ("A", "B"):
                continue
            won = said == cand_slot
            if cand_slot == "A":
                w_l, l_l = w_l + won, l_l + (not won)
            else:
                w_r, l_r = w_r + won, l_r + (not won)
    bias = position_bias(w_l, l_l, w_r, l_r)
    if not bias.n_decisive:
        return None
    return {
        "first_slot_picks": bias.left_picks,
        "decisive": bias.n_decisive,
        "first_slot_share": bias.left_share,
        "balanced_support_rate": bias.balanced_support_rate,
        "ci_low": bias.left_share_ci_low,
        "ci_high": bias.left_share_ci_high,
        "p_value": bias.p_value,
    }


def judge_run_counts(run: JudgeRun) -> dict[str, Any]:
    if run.kind == JudgeRun.Kind.QUALITY:
        scores = dict(
            run.verdicts.values_list("score").annotate(n=Count("pk")).values_list("score", "n")
        )
        flagged = sum(n for s, n in scores.items() if s is not None and s < run.quality_threshold)
        return {
            "judged": sum(scores.values()),
            "scores": {str(s): scores.get(s, 0) for s in range(1, 6)},
            "invalid": scores.get(None, 0),
            "flagged": flagged,
        }
    if run.kind == JudgeRun.Kind.PRELABEL:
        verdicts = run.verdicts
        return {
            "judged": verdicts.count(),
            "annotated": verdicts.filter(value__isnull=False).count(),
            "inconsistent": verdicts.filter(outcome="inconsistent").count(),
            "unsupported": verdicts.filter(error="unsupported item").count(),
            "invalid": verdicts.filter(value__isnull=True)
            .exclude(error="unsupported item")
            .count(),
        }
    outcomes = Counter(dict(run.verdicts.values_list("outcome").annotate(n=Count("pk"))))
    per_order = list(run.verdicts.values_list("candidate_slot", "verdict_ab", "verdict_ba"))
    judged = sum(outcomes.values())
    return {
        "judged": judged,
        **{name: outcomes.get(name, 0) for name in JudgeVerdict.Outcome.values},
        "inconsistent_share": outcomes.get("inconsistent", 0) / judged if judged else None,
        "judge_rate": _rate(outcomes.get("candidate", 0), outcomes.get("baseline", 0)),
        "position": _position(per_order),
    }


def human_majorities(campaign: Campaign) -> dict[int, str]:
    """comparison id -> the human majority outcome (candidate, baseline or tie)."""
    tallies: dict[int, Counter[str]] = defaultdict(Counter)
    rows = (
        live_votes([campaign.pk], include_simulated=False)
        .filter(comparison__isnull=False)
        .values_list("comparison_id", "outcome")
    )
    for comparison_id, outcome in rows:
        tallies[comparison_id]["tie" if outcome == "both_bad" else outcome] += 1
    majorities = {}
    for comparison_id, tally in tallies.items():
        (top, n), *rest = tally.most_common()
        majorities[comparison_id] = "tie" if rest and rest[0][1] == n else top
    return majorities


def judge_run_agreement(run: JudgeRun) -> dict[str, Any]:
    """Agreement with the human majority, and both support rates on the shared comparisons."""
    humans = human_majorities(run.campaign)
    pairs = [
        (outcome, humans[comparison_id])
        for comparison_id, outcome in run.verdicts.exclude(outcome="invalid").values_list(
            "comparison_id", "outcome"
        )
        if comparison_id in humans
    ]
    result: dict[str, Any] = agreement(pairs).as_dict()
    judge = Counter(j for j, _ in pairs)
    human = Counter(h for _, h in pairs)
    result["judge_rate_on_shared"] = _rate(judge["candidate"], judge["baseline"])
    result["human_rate_on_shared"] = _rate(human["candidate"], human["baseline"])
    result["human_voted_comparisons"] = len(humans)
    return result


def campaign_human_rate(campaign: Campaign) -> dict[str, Any]:
    """The campaign's human support rate (live, non-simulated pairwise votes; Wilson)."""
    counts = Counter(
        dict(
            live_votes([campaign.pk], include_simulated=False)
            .values_list("outcome")
            .annotate(n=Count("pk"))
        )
    )
    return {
        **_rate(counts.get("candidate", 0), counts.get("baseline", 0)),
        "votes": sum(counts.values()),
    }


def flagged_outputs(run: JudgeRun, *, limit: int = 200) -> QuerySet[JudgeVerdict]:
    """A quality run's outputs scored below its threshold (lowest first)."""
    return (
        run.verdicts.filter(score__lt=run.quality_threshold)
        .select_related("output__model_version", "output__prompt")
        .order_by("score", "id")[:limit]
    )


def verdicts_sample(run: JudgeRun, *, limit: int = 100) -> QuerySet[JudgeVerdict]:
    """The first verdicts of a run with what they judged, for the run page."""
    return run.verdicts.select_related(
        "comparison__prompt", "output__prompt", "output__model_version"
    ).order_by("id")[:limit]
