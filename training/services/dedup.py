"""Duplicate prompts: exact (normalized text) and near duplicates (MinHash + LSH, datasketch).

No database: hand it ``{key: text}``, get back the group of each key. A group is a prompt
and everything connected to it by exact or near duplication (single linkage, so a chain of near
duplicates is one group). Dataset splits keep a group in one split, so a prompt and its near
duplicates never straddle train and test.

Near duplication is Jaccard similarity of character shingles (``shingle`` characters, on the
normalized text) estimated by MinHash with ``num_perm`` permutations; LSH finds the candidate
pairs and each is kept only when its estimated similarity reaches ``threshold``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from evalhub.models.prompts import normalize_text

DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_SHINGLE = 5


@dataclass
class DuplicateReport:
    """Counts for the dataset page, and the group of every key."""

    group_of: dict[Hashable, Hashable] = field(default_factory=dict)
    texts: int = 0
    exact_duplicates: int = 0
    """Keys whose normalized text equals an earlier key's."""
    near_duplicate_links: int = 0
    """Pairs of distinct texts found similar (>= threshold)."""
    near_duplicate_texts: int = 0
    """Distinct texts that sit in a group with another distinct text."""
    groups: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "prompts": self.texts,
            "exact_duplicate_prompts": self.exact_duplicates,
            "near_duplicate_links": self.near_duplicate_links,
            "near_duplicate_prompts": self.near_duplicate_texts,
            "prompt_groups": self.groups,
        }


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def shingles(text: str, size: int = DEFAULT_SHINGLE) -> list[bytes]:
    """Distinct character shingles of the text (the whole text when shorter than ``size``)."""
    if len(text) <= size:
        return [text.encode()]
    return list({text[i : i + size].encode() for i in range(len(text) - size + 1)})


def duplicate_groups(
    texts: Mapping[Hashable, str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle: int = DEFAULT_SHINGLE,
    seed: int = 1,
) -> DuplicateReport:
    """Group keys by exact and near-duplicate text. Group ids are the smallest key's position
    in sorted key order, rendered as the key itself (stable for a given input)."""
    from datasketch import MinHash, MinHashLSH

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    keys = sorted(texts, key=str)
    report = DuplicateReport(texts=len(keys))
    distinct: dict[str, int] = {}  # normalized text -> index of its first key
    first_of: list[int] = []  # per key: index (in keys) of the first key with the same text
    for i, key in enumerate(keys):
        norm = normalize_text(texts[key])
        if norm in distinct:
            report.exact_duplicates += 1
        first_of.append(distinct.setdefault(norm, i))
    uf = _UnionFind(len(keys))
    for i, first in enumerate(first_of):
        uf.union(i, first)

    unique_texts = list(distinct)
    unique_index = list(distinct.values())
    near_members: set[int] = set()
    if threshold < 1 and len(unique_texts) > 1:
        hashes = MinHash.bulk(
            (shingles(text, shingle) for text in unique_texts), num_perm=num_perm, seed=seed
        )
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        for j, minhash in enumerate(hashes):
            for other in lsh.query(minhash):
                if minhash.jaccard(hashes[other]) >= threshold:
                    report.near_duplicate_links += 1
                    near_members.update((j, other))
                    uf.union(unique_index[j], unique_index[other])
            lsh.insert(j, minhash)
    report.near_duplicate_texts = len(near_members)
    roots = [uf.find(i) for i in range(len(keys))]
    report.groups = len(set(roots))
    report.group_of = {key: keys[root] for key, root in zip(keys, roots, strict=True)}
    return report


def group_digest(group_key: Hashable, *, length: int = 16) -> str:
    """A short stable name for a group (stored with dataset items)."""
    return hashlib.sha256(str(group_key).encode()).hexdigest()[:length]
