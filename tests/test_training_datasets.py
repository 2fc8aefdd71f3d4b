"""Dataset versions: filters, exact and near-duplicate dedup, splits by prompt group (stratified,
never straddling), frozen membership, prompt splits kept, exports and their round trips."""

from __future__ import annotations

import importlib.util
import json
import random
from collections import Counter, defaultdict

import pytest
from django.core.management import call_command

from evalhub.models import Prompt
from evalhub.services.errors import Conflict, InvalidInput
from tests.factories import open_campaign_with_outputs
from tests.test_training_helpers import add_votes, campaign_with_texts
from training.models import DatasetItem, PreferencePair
from training.services.datasets import dataset_filters, dataset_version_freeze
from training.services.exports import dataset_export_file, dataset_exports_write, export_rows
from training.services.pairs import pairs_build

pytestmark = pytest.mark.django_db
WORDS = [
    "order",
    "refund",
    "parcel",
    "invoice",
    "account",
    "password",
    "delivery",
    "broken",
    "charge",
    "address",
    "return",
    "warranty",
    "discount",
    "subscription",
    "cancel",
    "upgrade",
    "receipt",
    "tracking",
    "courier",
    "damaged",
    "late",
    "missing",
    "wrong",
    "size",
    "colour",
    "payment",
    "card",
    "bank",
    "email",
    "login",
    "code",
]
LABELS = ["refund", "shipping", "account"]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "var"


def _texts(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        question = f"Question {i}: " + " ".join(rng.choice(WORDS) for _ in range(16)) + "?"
        rows.append((question, f"Curt answer {i}.", f"A warm and helpful answer number {i}."))
    return rows


def _campaign(name: str, n: int, *, seed: int = 0, outcome: str = "candidate"):
    texts = _texts(n, seed)
    campaign = campaign_with_texts(name, texts, labels=[LABELS[i % 3] for i in range(n)])
    add_votes(campaign, [[outcome, outcome]] * n)
    return campaign


def test_split_by_group_stratified_and_within_tolerance():
    _campaign("big", 300)
    pairs_build(sources=["pairwise"])
    dataset = dataset_version_freeze(name="v1", seed=3)
    counts = dataset.counts
    assert counts["pairs"]["total"] == 300
    for split, share in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert counts["pairs"][split] / 300 == pytest.approx(share, abs=0.02)
        for label in LABELS:
            row = counts["by_label"][label]
            assert row[split] / row["total"] == pytest.approx(share, abs=0.03)
    splits_of_group = defaultdict(set)
    for group, split in DatasetItem.objects.filter(dataset=dataset).values_list("group", "split"):
        splits_of_group[group].add(split)
    assert all(len(splits) == 1 for splits in splits_of_group.values())
    # Prompts now carry their split, so later versions keep held-out prompts held out.
    assert Counter(Prompt.objects.values_list("split", flat=True)) == Counter(
        {s: counts["prompts"][s] for s in ("train", "val", "test")}
    )


def test_near_duplicate_prompts_never_straddle_splits():
    texts = _texts(120, seed=5)
    # Every fourth prompt gets a near duplicate in a second campaign (one word changed).
    variants = [(q.replace("Question", "Query"), b, c) for q, b, c in texts[::4]]
    first = campaign_with_texts("one", texts)
    second = campaign_with_texts("two", variants)
    add_votes(first, [["candidate"]] * len(texts))
    add_votes(second, [["candidate"]] * len(variants))
    pairs_build(sources=["pairwise"])
    dataset = dataset_version_freeze(name="nd", seed=0, near_duplicate_threshold=0.7)
    dedup = dataset.counts["dedup"]
    assert dedup["near_duplicate_links"] == len(variants)
    assert dedup["near_duplicate_prompts"] == 2 * len(variants)
    assert dedup["prompt_groups"] == len(texts)
    split_of = dict(
        DatasetItem.objects.filter(dataset=dataset).values_list("prompt__instruction", "split")
    )
    for question, _, _ in variants:
        assert split_of[question] == split_of[question.replace("Query", "Question")]


def test_exact_duplicates_and_contradictions_are_removed_with_counts():
    texts = _texts(4)
    one = campaign_with_texts("a", texts)
    two = campaign_with_texts("b", texts, baseline=one.baseline, candidate=one.candidate)
    add_votes(one, [["candidate", "candidate"], ["candidate"], ["candidate"], ["candidate"]])
    # The same preferences again in campaign b, except prompt 0, where b prefers the baseline.
    add_votes(two, [["baseline"], ["candidate"], ["candidate"], ["candidate"]])
    pairs_build(sources=["pairwise"])
    assert PreferencePair.objects.filter(is_active=True).count() == 8
    dataset = dataset_version_freeze(name="dd")
    dedup = dataset.counts["dedup"]
    assert dedup["pairs_matching"] == 8 and dedup["exact_duplicate_pairs"] == 3
    assert dedup["contradicting_pairs_dropped"] == 1  # a's 2 votes beat b's 1 on prompt 0
    kept = DatasetItem.objects.filter(dataset=dataset)
    assert kept.count() == 4
    first = kept.get(prompt__instruction=texts[0][0]).pair
    assert first.chosen_text == texts[0][2] and first.strength == 2


def test_filters_by_campaign_label_and_strength():
    strong = _campaign("strong", 30)
    _campaign("other", 30, seed=9)
    pairs_build(sources=["pairwise"])
    only = dataset_version_freeze(
        name="f", filters=dataset_filters(campaigns=[strong], labels=["refund"], min_strength=2)
    )
    assert only.counts["pairs"]["total"] == 10
    assert only.filters["labels"] == ["refund"] and only.filters["campaigns"] == [strong.pk]
    with pytest.raises(InvalidInput, match="nothing to freeze"):
        dataset_version_freeze(name="none", filters=dataset_filters(min_strength=5))
    with pytest.raises(InvalidInput, match="Unknown label"):
        dataset_filters(labels=["nope"])
    with pytest.raises(InvalidInput, match="outside 10-15%"):
        dataset_version_freeze(name="bad", split_ratios={"train": 0.7, "val": 0.1, "test": 0.2})


def test_a_frozen_version_never_changes():
    campaign = _campaign("frz", 20)
    pairs_build(sources=["pairwise"])
    dataset = dataset_version_freeze(name="frozen")
    members = list(DatasetItem.objects.filter(dataset=dataset).values_list("pair_id", "split"))
    before = dataset_export_file(dataset=dataset, fmt="trl", split="all").read_bytes()
    # New votes flip every comparison; the pairs are rebuilt; the version stays as it was.
    add_votes(campaign, [["baseline"] * 5] * 20, first_rater=2)
    pairs_build(sources=["pairwise"])
    assert not PreferencePair.objects.filter(
        pk__in=[m[0] for m in members], is_active=True
    ).exists()
    assert (
        list(DatasetItem.objects.filter(dataset=dataset).values_list("pair_id", "split")) == members
    )
    assert dataset_export_file(dataset=dataset, fmt="trl", split="all").read_bytes() == before
    with pytest.raises(Conflict):
        dataset_version_freeze(name="frozen")
    # A later version keeps every earlier held-out prompt in its split.
    later = dataset_version_freeze(name="later", seed=99)
    old_split = dict(DatasetItem.objects.filter(dataset=dataset).values_list("prompt_id", "split"))
    new_split = dict(DatasetItem.objects.filter(dataset=later).values_list("prompt_id", "split"))
    assert new_split == old_split


def test_export_files_are_fingerprinted_and_rewritten_when_missing():
    _campaign("fp", 10)
    pairs_build(sources=["pairwise"])
    dataset = dataset_version_freeze(name="fp")
    path = dataset_export_file(dataset=dataset, fmt="trl-conversational", split="train")
    data = path.read_bytes()
    assert dataset.exports["trl-conversational"]["train"]["rows"] == len(data.splitlines())
    path.unlink()
    assert (
        dataset_export_file(dataset=dataset, fmt="trl-conversational", split="train").read_bytes()
        == data
    )
    dataset_exports_write(dataset=dataset)  # idempotent
    with pytest.raises(InvalidInput, match="Unknown export format"):
        dataset_export_file(dataset=dataset, fmt="csv", split="train")


def test_cli_freeze_and_export(tmp_path, capsys):
    campaign = _campaign("cli", 30)
    call_command("build_pairs")
    call_command("dataset_freeze", "cli-v1", "--campaign", campaign.name, "--split", "70/15/15",
                 "--seed", "4")  # fmt: skip
    out = capsys.readouterr().out
    assert "dataset version cli-v1" in out and "pairs" in out and "dedup:" in out
    target = tmp_path / "train.jsonl"
    call_command(
        "dataset_export", "cli-v1", "--format", "trl", "--split", "train", "--out", str(target)
    )
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows and set(rows[0]) == {"prompt", "chosen", "rejected"}
    call_command("dataset_export", "cli-v1", "--format", "alpaca", "--split", "all")
    alpaca = json.loads(capsys.readouterr().out)
    assert len(alpaca) == 30 and set(alpaca[0]) == {"instruction", "input", "output"}


@pytest.mark.ml
@pytest.mark.skipif(importlib.util.find_spec("datasets") is None, reason="needs the ml extra")
def test_exports_load_with_datasets_in_the_formats_trl_expects(tmp_path):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    campaign = campaign_with_texts(
        "rt", [("Hi?", "No.", "Hello! How can I help?"), ("Refund?", "No.", "Sure, done.")]
    )
    prompt = campaign.prompts.first()
    Prompt.objects.filter(pk=prompt.pk).update(system="Be kind.", history=[["Hey", "Hi!"]])
    add_votes(campaign, [["candidate"], ["candidate"]])
    pairs_build(sources=["pairwise"])
    dataset = dataset_version_freeze(
        name="rt", split_ratios={"train": 0.8, "val": 0.1, "test": 0.1}
    )

    def load(fmt: str):
        path = dataset_export_file(dataset=dataset, fmt=fmt, split="all")
        return load_dataset("json", data_files=str(path), split="train")

    standard = load("trl")
    assert standard.column_names == ["prompt", "chosen", "rejected"]
    assert not any(is_conversational(row) for row in standard)
    with_history = next(row for row in standard if row["prompt"].startswith("System:"))
    assert "System: Be kind.\n\nUser: Hey\n\nAssistant: Hi!\n\nUser: " in with_history["prompt"]
    conversational = load("trl-conversational")
    assert all(is_conversational(row) for row in conversational)
    row = next(row for row in conversational if row["prompt"][0]["role"] == "system")
    assert row["prompt"][0] == {"role": "system", "content": "Be kind."}
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user"]
    assert row["chosen"] == [{"role": "assistant", "content": "Hello! How can I help?"}]
    sft = load("sft")
    assert sft.column_names == ["prompt", "completion"] and is_conversational(sft[0])
    alpaca = json.loads(dataset_export_file(dataset=dataset, fmt="alpaca", split="all").read_text())
    (first,) = [row for row in alpaca if "system" in row]
    assert first["system"] == "Be kind." and first["history"] == [["Hey", "Hi!"]]
    assert list(export_rows(dataset, "kto", "all")) == []


def test_rejected_and_ai_judge_pairs_stay_out_unless_asked_for(db):
    """Expert-rejected pairs never enter a dataset; AI-judge pairs only when named in sources."""
    from training.models import PreferencePair
    from training.models.pairs import PairSource
    from training.services.datasets import dataset_filters

    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=1, name="ds-review")
    prompts = list(campaign.prompts.order_by("pk"))
    kept = _pair(prompts[0], campaign, "kept")
    rejected = _pair(prompts[1], campaign, "rejected")
    rejected.review_status = "rejected"
    rejected.save()
    judged = _pair(prompts[2], campaign, "judged", source=PairSource.AI_JUDGE)
    human = set(PreferencePair.objects.filter(dataset_filters().query(pairs=True)))
    assert human == {kept}
    asked = dataset_filters(sources=[PairSource.AI_JUDGE])
    assert set(PreferencePair.objects.filter(asked.query(pairs=True))) == {judged}


def _pair(prompt, campaign, text, source="pairwise"):
    from training.models import PreferencePair

    return PreferencePair.objects.create(
        prompt=prompt,
        chosen_text=f"{text} good",
        rejected_text=f"{text} bad",
        source=source,
        source_key=f"test:{text}",
        campaign=campaign,
        content_hash=f"hash-{text}",
    )
