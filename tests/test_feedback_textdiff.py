"""Edit distance (pure): the bit-parallel Levenshtein agrees with the textbook table."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from feedback.textdiff import levenshtein, normalized_distance


def table(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcé \n", max_size=40), st.text(alphabet="abcé \n", max_size=40))
def test_matches_the_dynamic_programming_table(a, b):
    assert levenshtein(a, b) == table(a, b) == levenshtein(b, a)


def test_known_values_and_speed():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("same", "same") == 0
    assert normalized_distance("", "") == 0.0 and normalized_distance("ab", "cd") == 1.0
    medium_a, medium_b = "Thanks for your order. " * 20, "Thank you for the order! " * 20
    assert levenshtein(medium_a, medium_b) == table(medium_a, medium_b)  # beyond 64 bits
    long_a, long_b = medium_a * 10, medium_b * 10
    started = time.perf_counter()
    levenshtein(long_a, long_b)
    assert time.perf_counter() - started < 1.0  # about 5,000 x 5,000 characters
