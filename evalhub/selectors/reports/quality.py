"""The report's rater-quality block: answers to the campaign's checks (gold items and attention
checks, left out of the support rate) and the raters excluded from it, with the support rate
before and after the exclusion. Database half (``quality_counts``) and statistics half
(``quality_block``) as in the rest of the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Count, F, Q

from evalhub.models import Campaign, Comparison, RaterExclusion
from evalhub.selectors.reports import counts as db
from evalhub.selectors.reports.slices import slice_rows

GOLD, ATTENTION = Comparison.GoldKind.GOLD, Comparison.GoldKind.ATTENTION


@dataclass(frozen=True)
class CheckTotals:
    """Answers to the campaign's checks, all raters together (excluded raters too)."""

    n_gold_items: int
    n_attention_items: int
    gold_answered: int
    gold_correct: int
    attention_answered: int
    attention_correct: int


def campaign_check_totals(*, campaign: Campaign) -> CheckTotals:
    """One query over the campaign's check items and the live votes on them."""
    live = ~Q(votes__pk__in=db.superseded_vote_ids())
    totals = (
        Comparison.objects.filter(campaign=campaign, is_gold=True)
        .order_by()
        .aggregate(
            **{
                f"{kind}_items": Count("pk", distinct=True, filter=Q(gold_kind=kind))
                for kind in (GOLD, ATTENTION)
            },
            **{
                f"{kind}_{name}": Count("votes", filter=live & Q(gold_kind=kind) & extra)
                for kind in (GOLD, ATTENTION)
                for name, extra in (
                    ("answered", Q()),
                    ("correct", Q(votes__outcome=F("gold_outcome"))),
                )
            },
        )
    )
    return CheckTotals(
        n_gold_items=totals["gold_items"],
        n_attention_items=totals["attention_items"],
        gold_answered=totals["gold_answered"],
        gold_correct=totals["gold_correct"],
        attention_answered=totals["attention_answered"],
        attention_correct=totals["attention_correct"],
    )


@dataclass(frozen=True)
class QualityCounts:
    """Gold answers, the raters excluded from the report, and the per-prompt counts with their
    votes still in (``before``; only read when someone is excluded)."""

    checks: CheckTotals
    excluded: list[tuple[int, str, str, float | None]]  # rater id, username, reason, accuracy
    before: np.ndarray | None  # (prompts, 4) W, L, T, B before exclusions


def quality_counts(campaign: Campaign, *, include_simulated: bool = True) -> QualityCounts:
    """2 queries, 3 when raters are excluded."""
    excluded = list(
        RaterExclusion.objects.filter(campaign=campaign)
        .order_by("rater__username")
        .values_list("rater_id", "rater__username", "reason", "gold_accuracy")
    )
    before = None
    if excluded:
        _, _, before, _ = db.prompt_counts(
            [campaign.pk], include_simulated=include_simulated, quality=False
        )
    return QualityCounts(campaign_check_totals(campaign=campaign), excluded, before)


HEADLINE_KEYS = (
    "n_votes", "wins", "losses", "ties", "both_bad", "n_decisive", "support_rate", "ci_low",
    "ci_high", "ci_method", "p_value", "band", "verdict", "verdict_text",
)  # fmt: skip


def quality_block(quality: QualityCounts, headline: dict[str, Any]) -> dict[str, Any]:
    """Checks answered (left out of the support rate) and the raters excluded, with the support
    rate before and after the exclusion (the same interval rule as every slice row)."""
    checks = quality.checks
    answered = checks.gold_answered + checks.attention_answered
    correct = checks.gold_correct + checks.attention_correct
    after = {key: headline.get(key) for key in HEADLINE_KEYS}
    before = None
    if quality.before is not None:
        row = slice_rows(np.zeros(len(quality.before), dtype=np.int64), quality.before, 1)[0]
        before = {key: row.get(key) for key in HEADLINE_KEYS}
    return {
        "n_gold_items": checks.n_gold_items,
        "n_attention_items": checks.n_attention_items,
        "gold_answers": checks.gold_answered,
        "gold_correct": checks.gold_correct,
        "attention_answers": checks.attention_answered,
        "attention_failed": checks.attention_answered - checks.attention_correct,
        "check_answers": answered,
        "check_accuracy": correct / answered if answered else None,
        "checks_note": "votes on gold items and attention checks are left out of the support rate",
        "excluded_raters": [
            {"rater_id": pk, "rater": name, "reason": reason, "gold_accuracy": accuracy}
            for pk, name, reason, accuracy in quality.excluded
        ],
        "n_excluded_votes": 0 if before is None else before["n_votes"] - after["n_votes"],
        "before_exclusion": before,
        "after_exclusion": after if before is not None else None,
    }
