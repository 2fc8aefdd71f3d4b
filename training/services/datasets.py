"""Freezing a dataset version: select, dedup, group near-duplicate prompts, split, write.

``dataset_version_freeze`` takes the active pairs (and SFT / KTO examples) that match the
filters, removes exact duplicates (same prompt and texts, from any source or campaign: the
strongest is kept), drops contradicting pairs (A over B and B over A on one prompt: the stronger
wins, equal strengths drop both), groups prompts with their exact and near duplicates (MinHash),
and assigns each group to train / val / test by a seeded hash, stratified by label.

A prompt that an earlier freeze already put in a split (``Prompt.split``) keeps it, so what was
held out for evaluation never becomes training data later; the prompts split here get their
split recorded the same way (``assign_prompt_splits``). Exports are written after the freeze.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q

from evalhub.models import Campaign, Label, Prompt
from evalhub.models.prompts import normalize_text
from evalhub.services.errors import Conflict, InvalidInput
from training.models import CompletionExample, DatasetItem, DatasetVersion, PreferencePair
from training.models.pairs import PairSource
from training.services.dedup import DEFAULT_THRESHOLD, duplicate_groups, group_digest
from training.services.splits import SPLITS, SplitGroup, assign_splits, validate_ratios

UNLABELED = "unlabeled"
HELD_OUT_ORDER = {"test": 0, "val": 1, "train": 2}
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class DatasetFilters:
    campaigns: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    min_strength: int = 1
    min_agreement: float = 0.0
    include_examples: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaigns": list(self.campaigns),
            "sources": list(self.sources),
            "labels": list(self.labels),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "min_strength": self.min_strength,
            "min_agreement": self.min_agreement,
            "include_examples": self.include_examples,
        }

    def query(self, *, pairs: bool) -> Q:
        # A rejected review always keeps a row out; AI-judge rows only enter when asked for by
        # name, so AI labels never mix silently with human ones.
        q = Q(is_active=True) & ~Q(review_status="rejected")
        if self.campaigns:
            q &= Q(campaign_id__in=self.campaigns)
        if self.sources:
            q &= Q(source__in=self.sources)
        else:
            q &= ~Q(source=PairSource.AI_JUDGE)
        if self.labels:
            q &= Q(prompt__labels__name__in=self.labels)
        if self.since:
            q &= Q(created_at__gte=self.since)
        if self.until:
            q &= Q(created_at__lt=self.until)
        q &= Q(strength__gte=self.min_strength)
        if pairs and self.min_agreement > 0:
            q &= Q(agreement__gte=self.min_agreement)
        return q


def dataset_filters(
    *,
    campaigns: Iterable[Campaign] = (),
    sources: Iterable[str] = (),
    labels: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    min_strength: int = 1,
    min_agreement: float = 0.0,
    include_examples: bool = True,
) -> DatasetFilters:
    """Validated filters (unknown sources or labels are refused by name)."""
    sources = tuple(dict.fromkeys(sources))
    unknown = sorted(set(sources) - set(PairSource.values))
    if unknown:
        raise InvalidInput(f"Unknown source(s) {unknown}; use any of {PairSource.values}.")
    labels = tuple(dict.fromkeys(labels))
    missing = sorted(
        set(labels) - set(Label.objects.filter(name__in=labels).values_list("name", flat=True))
    )
    if missing:
        raise InvalidInput(f"Unknown label(s) {missing}.", details={"field": "labels"})
    if min_strength < 1 or not 0 <= min_agreement <= 1:
        raise InvalidInput("min_strength must be >= 1 and min_agreement within 0..1.")
    if since and until and since >= until:
        raise InvalidInput("since must be before until.")
    ids = tuple(sorted({c.pk for c in campaigns}))
    return DatasetFilters(
        ids, sources, labels, since, until, min_strength, min_agreement, include_examples
    )


def dataset_version_freeze(
    *,
    name: str,
    filters: DatasetFilters | None = None,
    split_ratios: dict[str, float] | None = None,
    seed: int = 0,
    near_duplicate_threshold: float = DEFAULT_THRESHOLD,
    assign_prompt_splits: bool = True,
    description: str = "",
    created_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> DatasetVersion:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A dataset version needs a name.", details={"field": "name"})
    if DatasetVersion.objects.filter(name=name).exists():
        raise Conflict(f"A dataset version named {name!r} already exists (versions are frozen).")
    try:
        ratios = validate_ratios(split_ratios or {"train": 0.8, "val": 0.1, "test": 0.1})
    except ValueError as exc:
        raise InvalidInput(str(exc), details={"field": "split"}) from exc
    if not 0 < near_duplicate_threshold <= 1:
        raise InvalidInput("near_duplicate_threshold must be within (0, 1].")
    filters = filters or DatasetFilters()
    report = progress or (lambda done, total, message: None)

    report(0, 4, "selecting pairs")
    pairs, pair_dedup = _select_pairs(filters)
    examples, example_dedup = _select_examples(filters) if filters.include_examples else ([], {})
    if not pairs and not examples:
        raise InvalidInput("No active pairs or examples match these filters: nothing to freeze.")
    prompt_ids = sorted({row["prompt_id"] for row in pairs + examples})
    prompts = _prompt_rows(prompt_ids)

    report(1, 4, f"grouping {len(prompts)} prompts")
    duplicates = duplicate_groups(
        {pid: info["text"] for pid, info in prompts.items()}, threshold=near_duplicate_threshold
    )
    group_of = duplicates.group_of
    rows = [("pair", r) for r in pairs] + [("example", r) for r in examples]
    groups = _split_groups(rows, prompts, group_of)

    report(2, 4, f"splitting {len(groups)} prompt groups")
    split_of = assign_splits(groups.values(), ratios=ratios, seed=seed)
    counts = _counts(rows, prompts, group_of, split_of)
    counts["dedup"] = {**duplicates.as_dict(), **pair_dedup, **example_dedup}

    report(3, 4, "writing")
    with transaction.atomic():
        dataset = DatasetVersion.objects.create(
            name=name,
            description=description,
            filters=filters.as_dict(),
            seed=seed,
            split_ratios=ratios,
            near_duplicate_threshold=near_duplicate_threshold,
            counts=counts,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
        DatasetItem.objects.bulk_create(
            (
                DatasetItem(
                    dataset=dataset,
                    pair_id=row["id"] if kind == "pair" else None,
                    example_id=row["id"] if kind == "example" else None,
                    prompt_id=row["prompt_id"],
                    split=split_of[group_of[row["prompt_id"]]],
                    label=prompts[row["prompt_id"]]["label"][:100],
                    group=group_digest(group_of[row["prompt_id"]]),
                )
                for kind, row in rows
            ),
            batch_size=2000,
        )
        if assign_prompt_splits:
            _record_prompt_splits(prompts, group_of, split_of)
    from training.services.exports import dataset_exports_write

    dataset_exports_write(dataset=dataset)
    report(4, 4, "frozen")
    return dataset


def _select_pairs(filters: DatasetFilters) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Matching pairs after exact dedup and contradiction removal, in id order."""
    rows = list(
        PreferencePair.objects.filter(filters.query(pairs=True))
        .distinct()
        .order_by("id")
        .values(
            "id", "prompt_id", "prompt__content_hash", "chosen_text", "rejected_text", "strength"
        )
    )
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["prompt__content_hash"], normalize_text(row["chosen_text"]),
               normalize_text(row["rejected_text"]))  # fmt: skip
        if key not in best or row["strength"] > best[key]["strength"]:
            best[key] = row
    kept, conflicts = {}, 0
    for (prompt, chosen, rejected), row in best.items():
        reverse = best.get((prompt, rejected, chosen))
        if reverse is not None and reverse["strength"] >= row["strength"]:
            conflicts += 1  # the weaker of two contradicting pairs, or both when equal
            continue
        kept[row["id"]] = row
    selected = [kept[pk] for pk in sorted(kept)]
    return selected, {
        "pairs_matching": len(rows),
        "exact_duplicate_pairs": len(rows) - len(best),
        "contradicting_pairs_dropped": conflicts,
    }


def _select_examples(filters: DatasetFilters) -> tuple[list[dict[str, Any]], dict[str, int]]:
    rows = list(
        CompletionExample.objects.filter(filters.query(pairs=False))
        .distinct()
        .order_by("id")
        .values(
            "id", "kind", "prompt_id", "prompt__content_hash", "completion", "label", "strength"
        )
    )
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["kind"], row["prompt__content_hash"], normalize_text(row["completion"]),
               row["label"])  # fmt: skip
        if key not in best or row["strength"] > best[key]["strength"]:
            best[key] = row
    # A KTO answer thumbed up in one place and down in another teaches nothing: drop both.
    labels_of = defaultdict(set)
    for kind, prompt, text, label in best:
        labels_of[(kind, prompt, text)].add(label)
    kept = [
        row
        for (kind, prompt, text, _), row in best.items()
        if kind == "sft" or len(labels_of[(kind, prompt, text)]) == 1
    ]
    kept.sort(key=lambda row: row["id"])
    return kept, {
        "examples_matching": len(rows),
        "exact_duplicate_examples": len(rows) - len(best),
        "contradicting_examples_dropped": len(best) - len(kept),
    }


def _chunks(ids: list[int], size: int = 900) -> Iterable[list[int]]:
    """IN lists SQLite accepts everywhere (999 variables on older builds)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _prompt_rows(prompt_ids: list[int]) -> dict[int, dict[str, Any]]:
    """id -> text for near-duplicate detection, primary label, and split already fixed."""
    first_label: dict[int, str] = {}
    info: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(prompt_ids):
        for prompt_id, label in (
            Prompt.labels.through.objects.filter(prompt_id__in=chunk)
            .order_by("prompt_id", "label__name")
            .values_list("prompt_id", "label__name")
        ):
            first_label.setdefault(prompt_id, label)
        for pid, system, history, instruction, input_text, split in Prompt.objects.filter(
            pk__in=chunk
        ).values_list("pk", "system", "history", "instruction", "input", "split"):
            turns = " ".join(" ".join(map(str, turn)) for turn in history or [])
            info[pid] = {
                "text": " ".join(p for p in (system, turns, instruction, input_text) if p),
                "label": first_label.get(pid, UNLABELED),
                "split": split if split in SPLITS else None,
            }
    return info


def _split_groups(
    rows: list[tuple[str, dict[str, Any]]],
    prompts: dict[int, dict[str, Any]],
    group_of: dict[Any, Any],
) -> dict[Any, SplitGroup]:
    weight: Counter[Any] = Counter()
    strata: dict[Any, Counter[str]] = defaultdict(Counter)
    fixed: dict[Any, str] = {}
    for _, row in rows:
        group = group_of[row["prompt_id"]]
        weight[group] += 1
        strata[group][prompts[row["prompt_id"]]["label"]] += 1
    for pid, info in prompts.items():
        if info["split"]:  # the most held-out split any member already has
            group = group_of[pid]
            current = fixed.get(group)
            if current is None or HELD_OUT_ORDER[info["split"]] < HELD_OUT_ORDER[current]:
                fixed[group] = info["split"]
    return {
        group: SplitGroup(
            key=group,
            stratum=min(strata[group].items(), key=lambda kv: (-kv[1], kv[0]))[0],
            weight=weight[group],
            fixed=fixed.get(group),
        )
        for group in weight
    }


def _counts(
    rows: list[tuple[str, dict[str, Any]]],
    prompts: dict[int, dict[str, Any]],
    group_of: dict[Any, Any],
    split_of: dict[Any, str],
) -> dict[str, Any]:
    table: dict[str, Counter[str]] = {"pairs": Counter(), "sft": Counter(), "kto": Counter()}
    by_label: dict[str, Counter[str]] = defaultdict(Counter)
    prompts_in: dict[str, set[int]] = defaultdict(set)
    for kind, row in rows:
        split = split_of[group_of[row["prompt_id"]]]
        bucket = "pairs" if kind == "pair" else row["kind"]
        table[bucket][split] += 1
        if kind == "pair":
            by_label[prompts[row["prompt_id"]]["label"]][split] += 1
        prompts_in[split].add(row["prompt_id"])
    result: dict[str, Any] = {
        bucket: {**{s: counter[s] for s in SPLITS}, "total": sum(counter.values())}
        for bucket, counter in table.items()
    }
    result["by_label"] = {
        label: {**{s: counter[s] for s in SPLITS}, "total": sum(counter.values())}
        for label, counter in sorted(by_label.items())
    }
    result["prompts"] = {s: len(prompts_in[s]) for s in SPLITS}
    return result


def _record_prompt_splits(
    prompts: dict[int, dict[str, Any]], group_of: dict[Any, Any], split_of: dict[Any, str]
) -> None:
    by_split: dict[str, list[int]] = defaultdict(list)
    for pid, info in prompts.items():
        if info["split"] is None:
            by_split[split_of[group_of[pid]]].append(pid)
    for split, ids in by_split.items():
        for chunk in _chunks(ids):
            Prompt.objects.filter(pk__in=chunk, split=Prompt.Split.UNASSIGNED).update(split=split)
