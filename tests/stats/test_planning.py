"""How many votes settle a verdict (STATS.md §3.4)."""

from __future__ import annotations

import math

import pytest

from evalhub.stats import (
    DEFAULT_BANDS,
    design_effect_model,
    n_for_half_width,
    n_to_resolve_at_phat,
    n_to_separate,
    votes_to_settle,
    wilson_interval,
)

HALF_WIDTH_TABLE = {
    # p: [(Wald, Wilson) for h = 0.10, 0.05, 0.03, 0.02, 0.01]
    0.5: [(97, 93), (385, 381), (1068, 1064), (2401, 2398), (9604, 9600)],
    0.7: [(81, 78), (323, 320), (897, 894), (2017, 2014), (8068, 8064)],
    0.8: [(62, 60), (246, 245), (683, 682), (1537, 1535), (6147, 6145)],
    0.9: [(35, 37), (139, 141), (385, 388), (865, 868), (3458, 3461)],
}


@pytest.mark.parametrize("p", sorted(HALF_WIDTH_TABLE))
def test_half_width_table(p: float) -> None:
    for h, (wald, wilson) in zip((0.10, 0.05, 0.03, 0.02, 0.01), HALF_WIDTH_TABLE[p], strict=True):
        assert n_for_half_width(p, h, method="wald") == wald
        n = n_for_half_width(p, h, method="wilson")
        assert n == wilson
        low, high = wilson_interval(p * n, n)
        assert abs((float(high) - float(low)) / 2 - h) < 6e-4


@pytest.mark.parametrize(
    ("p", "edge", "n"),
    [
        (0.60, 0.50, 194),
        (0.55, 0.50, 783),
        (0.75, 0.70, 638),
        (0.75, 0.80, 528),
        (0.85, 0.80, 471),
        (0.90, 0.80, 108),
        (0.65, 0.70, 676),
        (0.40, 0.45, 770),
    ],
)
def test_separation_table(p: float, edge: float, n: int) -> None:
    assert n_to_separate(p, edge, power=0.8) == n
    assert n_to_separate(edge, edge) is None


def test_resolution_search_is_tight() -> None:
    for wins, losses in [(3, 2), (52, 48), (9, 1), (85, 15), (0, 1), (1, 0), (790, 210)]:
        needed = n_to_resolve_at_phat(wins, losses)
        assert needed is not None
        p = wins / (wins + losses)

        def resolved(n: int, p: float = p) -> bool:
            low, high = wilson_interval(p * n, n)
            return DEFAULT_BANDS.verdict(float(low), float(high), n) == DEFAULT_BANDS.band_of_value(
                p
            )

        assert resolved(needed)
        if needed > wins + losses:
            assert not resolved(needed - 1)
    assert n_to_resolve_at_phat(7, 3) is None  # 0.70 is an edge: never at this estimate
    assert n_to_resolve_at_phat(0, 0) is None


def test_total_votes_use_tie_rate_and_design_effect() -> None:
    # STATS.md: 638 decisive × 1.125 (3 raters, ρ = 0.1, 25% non-decisive) / 0.75 ≈ 957 votes
    deff = design_effect_model(2.25, 0.1)
    plan = votes_to_settle(3, 1, 1, 0, design_effect=deff, power=0.8)
    assert plan.binding_edge == 0.7
    assert plan.decisive_needed_at_power == math.ceil(638 * 1.125)
    assert plan.decisive_needed_at_power / 0.8 == pytest.approx(957 * 0.75 / 0.8, abs=1.0)
    assert plan.additional_votes_at_power == math.ceil((math.ceil(638 * 1.125) - 4) / 0.8)
    iid = votes_to_settle(3, 1, 1, 0)
    assert plan.decisive_needed_at_phat > iid.decisive_needed_at_phat


def test_settled_campaign_needs_nothing_more() -> None:
    plan = votes_to_settle(750, 250, 100, 0)
    assert plan.decisive_needed_at_phat == 1000
    assert plan.additional_decisive_at_phat == 0 and plan.additional_votes_at_phat == 0
    assert plan.additional_decisive_at_power == 0


def test_invalid_planning_inputs() -> None:
    with pytest.raises(ValueError):
        n_for_half_width(0.5, 0.0)
    with pytest.raises(ValueError):
        n_for_half_width(0.5, 0.1, method="exact")
