"""Exact and near-duplicate prompt grouping (MinHash over character shingles, datasketch)."""

from __future__ import annotations

import random

from training.services.dedup import duplicate_groups, shingles

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
]


def _sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def test_exact_and_near_duplicates_share_a_group_and_are_counted():
    rng = random.Random(0)
    base = "My parcel from order 4411 arrived damaged and the box was open, what can I do about it?"
    texts = {
        1: base,
        2: "  my PARCEL from order 4411 arrived damaged and the box was open, what can I do about it?",
        3: base.replace("what can I do", "what could I do"),  # near duplicate
        4: "I was charged twice for my subscription this month, please refund one charge.",
        5: _sentence(rng),
    }
    report = duplicate_groups(texts, threshold=0.7)
    group = report.group_of
    assert group[1] == group[2] == group[3]
    assert len({group[1], group[4], group[5]}) == 3
    assert report.exact_duplicates == 1
    assert report.near_duplicate_links == 1 and report.near_duplicate_texts == 2
    assert report.groups == 3
    assert report.as_dict()["prompts"] == 5


def test_unrelated_texts_stay_apart_and_threshold_one_means_exact_only():
    rng = random.Random(1)
    texts = {i: _sentence(rng) for i in range(200)}
    assert duplicate_groups(texts).groups == 200
    near = {1: "a" * 30 + "b", 2: "a" * 30 + "c"}
    assert duplicate_groups(near, threshold=1.0).groups == 2


def test_groups_are_stable_and_chains_link():
    a = "please help me reset the password of my account, the link in the email expired"
    b = a.replace("expired", "had expired")
    c = b.replace("please help me", "can you help me")
    report = duplicate_groups({"c": c, "a": a, "b": b}, threshold=0.6)
    assert len(set(report.group_of.values())) == 1
    assert set(report.group_of.values()) == {"a"}  # the smallest key names the group


def test_shingles_of_short_text_is_the_text():
    assert shingles("abc") == [b"abc"]
    assert len(shingles("abcdefg", 5)) == 3
