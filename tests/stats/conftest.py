"""Synthetic per-prompt data for the stats tests (no database)."""

from __future__ import annotations

import numpy as np

from evalhub.stats import PromptCounts


def clustered_counts(
    rng: np.random.Generator,
    *,
    n_prompts: int,
    votes_per_prompt: int,
    support_rate: float = 0.7,
    icc: float = 0.3,
    tie_rate: float = 0.2,
    both_bad_rate: float = 0.05,
) -> PromptCounts:
    """Votes clustered by prompt: per-prompt win probability ~ Beta with the given ICC.

    A beta-binomial with ICC ρ has a + b = 1/ρ − 1, so the design effect on decisive votes is
    about 1 + (m̄ − 1)ρ with m̄ the mean decisive votes per prompt.
    """
    concentration = 1.0 / icc - 1.0
    p_prompt = rng.beta(support_rate * concentration, (1 - support_rate) * concentration, n_prompts)
    cells = rng.multinomial(
        votes_per_prompt,
        [1 - tie_rate - both_bad_rate, tie_rate, both_bad_rate],
        size=n_prompts,
    )
    decisive = cells[:, 0]
    wins = rng.binomial(decisive, p_prompt)
    return PromptCounts(wins, decisive - wins, cells[:, 1], cells[:, 2])
