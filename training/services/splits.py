"""Train / val / test assignment by prompt group: seeded, stratified by label, deterministic.

No database: the freeze service hands in one :class:`SplitGroup` per prompt group (a prompt and
its duplicates) with the label stratum it belongs to, how many rows it carries, and a split it
must keep (a prompt already used as held-out stays held out). Within each stratum, groups are
taken in the order of a seeded hash of their key, and each goes to the split furthest below its
target share of that stratum's rows. So:

- a group is never in two splits (the unit of assignment is the group);
- proportions land within one group's size of the targets in every stratum;
- the same groups and seed give the same splits, whatever order they come in.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

SPLITS = ("train", "val", "test")
DEFAULT_RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}
RATIO_BOUNDS = {"train": (0.70, 0.80), "val": (0.10, 0.15), "test": (0.10, 0.15)}


@dataclass(frozen=True)
class SplitGroup:
    key: Hashable
    stratum: str
    weight: int
    fixed: str | None = None


def validate_ratios(ratios: dict[str, float]) -> dict[str, float]:
    """Shares within 70-80 / 10-15 / 10-15 % that sum to 100 % (percent values accepted)."""
    if set(ratios) != set(SPLITS):
        raise ValueError(f"split ratios need exactly {', '.join(SPLITS)}; got {sorted(ratios)}")
    values = {name: float(value) for name, value in ratios.items()}
    if sum(values.values()) > 1.5:  # given as percentages
        values = {name: value / 100.0 for name, value in values.items()}
    if abs(sum(values.values()) - 1.0) > 1e-6:
        raise ValueError(
            "split ratios must add up to 100% (e.g. 80/10/10); got "
            + "/".join(f"{values[s] * 100:g}" for s in SPLITS)
        )
    for name, (low, high) in RATIO_BOUNDS.items():
        if not low - 1e-9 <= values[name] <= high + 1e-9:
            raise ValueError(
                f"{name} share {values[name] * 100:g}% is outside {low * 100:g}-{high * 100:g}% "
                "(allowed: train 70-80, val 10-15, test 10-15)"
            )
    return values


def parse_ratios(text: str) -> dict[str, float]:
    """ "80/10/10" -> {"train": 0.8, "val": 0.1, "test": 0.1} (validated)."""
    parts = [p for p in text.replace(",", "/").split("/") if p.strip()]
    if len(parts) != 3:
        raise ValueError(
            f"give the split as train/val/test percentages, e.g. 80/10/10 (got {text!r})"
        )
    return validate_ratios(dict(zip(SPLITS, (float(p) for p in parts), strict=True)))


def _order_key(seed: int, key: Hashable) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_splits(
    groups: Iterable[SplitGroup], *, ratios: dict[str, float] | None = None, seed: int = 0
) -> dict[Hashable, str]:
    """group key -> split."""
    shares = validate_ratios(ratios or DEFAULT_RATIOS)
    by_stratum: dict[str, list[SplitGroup]] = defaultdict(list)
    for group in groups:
        if group.fixed is not None and group.fixed not in SPLITS:
            raise ValueError(f"group {group.key!r} has an unknown fixed split {group.fixed!r}")
        by_stratum[group.stratum].append(group)
    assigned: dict[Hashable, str] = {}
    for stratum in sorted(by_stratum):
        members = by_stratum[stratum]
        total = sum(g.weight for g in members)
        target = {s: shares[s] * total for s in SPLITS}
        filled = dict.fromkeys(SPLITS, 0.0)
        for group in members:
            if group.fixed is not None:
                assigned[group.key] = group.fixed
                filled[group.fixed] += group.weight
        free = sorted(
            (g for g in members if g.fixed is None), key=lambda g: _order_key(seed, g.key)
        )
        for group in free:
            # The split furthest below its target share; ties go to train, then val, then test.
            split = max(SPLITS, key=lambda s: target[s] - filled[s])
            assigned[group.key] = split
            filled[split] += group.weight
    return assigned
