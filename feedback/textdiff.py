"""Edit distance between a suggestion and the reply the agent sent (pure Python, no Django).

Levenshtein distance (insertions, deletions, substitutions, each costing 1) by Hyyrö's
bit-parallel form of Myers' algorithm: one pass over the longer text with Python integers as bit
vectors over the shorter one, so two 4,000-character replies take milliseconds, not the seconds a
quadratic table would.
"""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """The Levenshtein distance between ``a`` and ``b`` (Unicode code points)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    masks: dict[str, int] = {}
    for i, char in enumerate(b):
        masks[char] = masks.get(char, 0) | (1 << i)
    full = (1 << m) - 1
    high = 1 << (m - 1)
    positive, negative, distance = full, 0, m
    for char in a:
        eq = masks.get(char, 0)
        x = eq | negative
        d0 = ((((x & positive) + positive) & full) ^ positive) | x
        hp = negative | (~(d0 | positive) & full)
        hn = positive & d0
        if hp & high:
            distance += 1
        elif hn & high:
            distance -= 1
        hp = ((hp << 1) | 1) & full
        hn = (hn << 1) & full
        positive = hn | (~(d0 | hp) & full)
        negative = hp & d0
    return distance


def normalized_distance(a: str, b: str) -> float:
    """Levenshtein distance divided by the longer length (0 = same text, 1 = nothing shared)."""
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0
