"""Rater quality reads: answers to gold items and attention checks, per rater and per campaign.

A check is answered correctly when the vote's outcome is the comparison's ``gold_outcome``
(outcomes are fixed at write time, so the side a rater saw is already accounted for). A rater is
flagged when they answered at least ``gold_min_answers`` checks and their accuracy is below
``gold_min_accuracy``; the accuracy comes with a Wilson interval from ``evalhub.stats``.
Counts are one grouped query; superseded votes never count (a correction replaces the answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet

from evalhub.models import Campaign, Comparison, RaterExclusion, Vote
from evalhub.selectors.reports import counts as db
from evalhub.selectors.reports.counts import superseded_vote_ids
from evalhub.selectors.reports.quality import quality_block, quality_counts
from evalhub.selectors.reports.slices import CONFIDENCE, slice_rows
from evalhub.stats import wilson_interval

GOLD, ATTENTION = Comparison.GoldKind.GOLD, Comparison.GoldKind.ATTENTION


@dataclass(frozen=True)
class RaterQuality:
    rater_id: int
    username: str
    n_votes: int  # live pairwise votes in the campaign, checks included
    gold_answered: int
    gold_correct: int
    attention_answered: int
    attention_failed: int
    answered: int  # checks of both kinds
    correct: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    flagged: bool
    excluded: bool
    exclusion_reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _campaign_votes(campaign: Campaign) -> QuerySet[Vote]:
    return Vote.objects.filter(
        campaign=campaign, kind=Vote.Kind.PAIRWISE, rater__isnull=False
    ).exclude(pk__in=superseded_vote_ids())


def _check_counts(kind: str) -> dict[str, Count]:
    on_kind = Q(comparison__is_gold=True, comparison__gold_kind=kind)
    right = Q(outcome=F("comparison__gold_outcome"))
    return {
        f"{kind}_answered": Count("pk", filter=on_kind),
        f"{kind}_correct": Count("pk", filter=on_kind & right),
    }


def campaign_rater_quality(
    *, campaign: Campaign, rater_id: int | None = None
) -> list[RaterQuality]:
    """Every rater who voted in the campaign (or is excluded from it), most answered checks
    first. Two queries: the grouped counts and the exclusions."""
    votes = _campaign_votes(campaign)
    exclusions = RaterExclusion.objects.filter(campaign=campaign)
    if rater_id is not None:
        votes, exclusions = votes.filter(rater_id=rater_id), exclusions.filter(rater_id=rater_id)
    rows = list(
        votes.order_by()
        .values_list("rater_id", "rater__username")
        .annotate(n=Count("pk"), **_check_counts(GOLD), **_check_counts(ATTENTION))
    )
    excluded = dict(exclusions.values_list("rater_id", "reason"))
    missing = set(excluded) - {r[0] for r in rows}
    if missing:
        names = get_user_model().objects.filter(pk__in=missing).values_list("pk", "username")
        rows += [(pk, name, 0, 0, 0, 0, 0) for pk, name in names]
    counts = np.array([r[2:] for r in rows], dtype=np.int64).reshape(-1, 5)
    answered = counts[:, 1] + counts[:, 3]
    correct = counts[:, 2] + counts[:, 4]
    low, high = wilson_interval(correct, answered, confidence=CONFIDENCE)
    result = []
    for i, (pk, username, *_counts) in enumerate(rows):
        n_answered, n_correct = int(answered[i]), int(correct[i])
        accuracy = n_correct / n_answered if n_answered else None
        result.append(
            RaterQuality(
                rater_id=pk,
                username=username,
                n_votes=int(counts[i, 0]),
                gold_answered=int(counts[i, 1]),
                gold_correct=int(counts[i, 2]),
                attention_answered=int(counts[i, 3]),
                attention_failed=int(counts[i, 3] - counts[i, 4]),
                answered=n_answered,
                correct=n_correct,
                accuracy=accuracy,
                ci_low=float(low[i]) if n_answered else None,
                ci_high=float(high[i]) if n_answered else None,
                flagged=is_flagged(campaign, n_answered, accuracy),
                excluded=pk in excluded,
                exclusion_reason=excluded.get(pk, ""),
            )
        )
    return sorted(result, key=lambda r: (-r.answered, r.accuracy or 0.0, r.username))


def is_flagged(campaign: Campaign, answered: int, accuracy: float | None) -> bool:
    return (
        accuracy is not None
        and answered >= campaign.gold_min_answers
        and accuracy < campaign.gold_min_accuracy
    )


def rater_quality_for(*, campaign: Campaign, rater_id: int) -> RaterQuality | None:
    rows = campaign_rater_quality(campaign=campaign, rater_id=rater_id)
    return rows[0] if rows else None


def gold_items(*, campaign: Campaign) -> QuerySet[Comparison]:
    """The campaign's gold items and attention checks with their prompts and answers (staff)."""
    return (
        Comparison.objects.filter(campaign=campaign, is_gold=True)
        .select_related("prompt", "baseline_output", "candidate_output")
        .order_by("gold_kind", "id")
    )


def campaign_quality_overview(*, campaign: Campaign) -> dict[str, Any]:
    """What the quality page and API show: settings, raters, and the report's quality block
    (support rate before / after exclusions), without the report's bootstrap."""
    _, _, per_prompt, _ = db.prompt_counts([campaign.pk])
    after = slice_rows(np.zeros(len(per_prompt), dtype=np.int64), per_prompt, 1)[0]
    return {
        "campaign": {"id": campaign.pk, "name": campaign.name, "status": campaign.status},
        "settings": {
            "gold_share": campaign.gold_share,
            "gold_min_accuracy": campaign.gold_min_accuracy,
            "gold_min_answers": campaign.gold_min_answers,
        },
        "raters": [row.to_dict() for row in campaign_rater_quality(campaign=campaign)],
        "report": quality_block(quality_counts(campaign), after),
    }
