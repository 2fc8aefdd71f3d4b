"""Split assignment by prompt group: proportions, strata, determinism, fixed splits, bounds."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from training.services.splits import SplitGroup, assign_splits, parse_ratios, validate_ratios


def _groups(n: int, *, labels=("refund", "shipping", "account"), seed: int = 0) -> list[SplitGroup]:
    rng = random.Random(seed)
    return [
        SplitGroup(key=f"g{i}", stratum=labels[i % len(labels)], weight=rng.randint(1, 4))
        for i in range(n)
    ]


def _shares(groups, assigned, stratum=None):
    weights = Counter()
    for group in groups:
        if stratum is None or group.stratum == stratum:
            weights[assigned[group.key]] += group.weight
    total = sum(weights.values())
    return {split: weights[split] / total for split in ("train", "val", "test")}


@pytest.mark.parametrize("ratios", [None, {"train": 0.7, "val": 0.15, "test": 0.15}])
def test_proportions_hold_overall_and_in_every_label(ratios):
    groups = _groups(3000)
    assigned = assign_splits(groups, ratios=ratios, seed=7)
    target = ratios or {"train": 0.8, "val": 0.1, "test": 0.1}
    assert set(assigned) == {g.key for g in groups}  # every group in exactly one split
    for stratum in (None, "refund", "shipping", "account"):
        shares = _shares(groups, assigned, stratum)
        for split, share in shares.items():
            assert share == pytest.approx(target[split], abs=0.005), (stratum, split)


def test_deterministic_whatever_the_order_and_seed_dependent():
    groups = _groups(500)
    first = assign_splits(groups, seed=3)
    shuffled = list(groups)
    random.Random(1).shuffle(shuffled)
    assert assign_splits(shuffled, seed=3) == first
    assert assign_splits(groups, seed=4) != first


def test_fixed_groups_keep_their_split_and_count_toward_the_targets():
    groups = _groups(200, labels=("x",))
    fixed = [SplitGroup(key=f"f{i}", stratum="x", weight=1, fixed="test") for i in range(10)]
    assigned = assign_splits(groups + fixed, seed=0)
    assert all(assigned[g.key] == "test" for g in fixed)
    shares = _shares(groups + fixed, assigned)
    assert shares["test"] == pytest.approx(0.1, abs=0.02)


def test_small_strata_stay_close_to_targets():
    groups = [SplitGroup(key=f"s{i}", stratum="rare", weight=1) for i in range(10)]
    counts = Counter(assign_splits(groups, seed=0).values())
    assert counts == {"train": 8, "val": 1, "test": 1}


@pytest.mark.parametrize(
    "text, ok",
    [("80/10/10", True), ("70/15/15", True), ("75/10/15", True), ("90/5/5", False),
     ("60/20/20", False), ("80/10/5", False), ("80/20", False)],
)  # fmt: skip
def test_ratio_bounds(text, ok):
    if ok:
        assert sum(parse_ratios(text).values()) == pytest.approx(1.0)
    else:
        with pytest.raises(ValueError):
            parse_ratios(text)


def test_ratios_accept_shares_or_percent_and_name_the_problem():
    assert validate_ratios({"train": 0.8, "val": 0.1, "test": 0.1})["train"] == 0.8
    with pytest.raises(ValueError, match="test share 20% is outside 10-15%"):
        validate_ratios({"train": 70, "val": 10, "test": 20})
