"""Bradley–Terry leaderboard (STATS.md §6)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from evalhub.stats import (
    ELO_SCALE,
    arena_ranks,
    bradley_terry,
    bt_mm,
    elo_gap_from_support_rate,
    support_rate_from_elo_gap,
)

NAMES = ["base", "ft-v1", "ft-v2", "ft-v3", "ft-v4"]
TRUE_ELO = np.array([1000.0, 1040.0, 1150.0, 1160.0, 1250.0])


def simulate(
    rng: np.random.Generator, battles_per_pair: int, tie_rate: float = 0.0
) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    theta = (TRUE_ELO - 1000.0) / ELO_SCALE
    a, b, wins_a, wins_b, ties = [], [], [], [], []
    for i, j in itertools.combinations(range(len(NAMES)), 2):
        p = float(expit(theta[i] - theta[j]))
        cells = rng.multinomial(
            battles_per_pair, [(1 - tie_rate) * p, (1 - tie_rate) * (1 - p), tie_rate]
        )
        a.append(i)
        b.append(j)
        wins_a.append(int(cells[0]))
        wins_b.append(int(cells[1]))
        ties.append(int(cells[2]))
    return a, b, wins_a, wins_b, ties


def test_recovers_known_strengths_and_anchors_base_at_1000() -> None:
    board = bradley_terry(*simulate(np.random.default_rng(1), 4000), names=NAMES, anchor=0)
    assert board.elo[0] == 1000.0
    assert board.mle_exists
    np.testing.assert_allclose(board.elo, TRUE_ELO, atol=15.0)
    assert board.names == tuple(NAMES) and board.n_battles == 10 * 4000
    rows = board.to_rows()
    assert rows[0]["model"] == "ft-v4" and rows[-1]["model"] == "base"
    assert rows[-1]["is_anchor"]


def test_mm_reaches_the_maximum_likelihood() -> None:
    a, b, wins_a, wins_b, ties = simulate(np.random.default_rng(2), 300, tie_rate=0.15)
    board = bradley_terry(a, b, wins_a, wins_b, ties)
    ia, ib = np.array(a), np.array(b)
    y_a = np.array(wins_a) + 0.5 * np.array(ties)
    y_b = np.array(wins_b) + 0.5 * np.array(ties)

    def nll(theta: np.ndarray) -> float:
        d = theta[ia] - theta[ib]
        return float(-(y_a * log_expit(d) + y_b * log_expit(-d)).sum())

    fit = minimize(nll, np.zeros(5), method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10})
    ours = np.array(board.theta)
    ref = fit.x - fit.x.mean()
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert nll(ours) <= nll(fit.x) + 1e-9


def test_ties_half_attenuates_and_drop_does_not() -> None:
    data = simulate(np.random.default_rng(3), 3000, tie_rate=0.3)
    half = bradley_terry(*data, tie_mode="half")
    dropped = bradley_terry(*data, tie_mode="drop")
    gap_half = half.elo[4] - half.elo[0]
    gap_drop = dropped.elo[4] - dropped.elo[0]
    assert gap_half < gap_drop
    assert gap_drop == pytest.approx(250.0, abs=20.0)
    assert dropped.n_battles < half.n_battles


def test_bootstrap_intervals_and_ranks() -> None:
    data = simulate(np.random.default_rng(4), 600)
    board = bradley_terry(*data, names=NAMES, bootstrap_resamples=300, rng=11)
    again = bradley_terry(*data, names=NAMES, bootstrap_resamples=300, rng=11)
    assert board == again
    assert board.elo_ci_low is not None and board.elo_ci_high is not None
    for low, elo, high in zip(board.elo_ci_low, board.elo, board.elo_ci_high, strict=True):
        assert low <= elo <= high
    assert board.elo_ci_low[0] == board.elo_ci_high[0] == 1000.0  # the anchor
    assert board.rank[4] == 1
    assert board.rank[2] == board.rank[3]  # 1150 vs 1160 overlap: shared rank
    assert board.rank[0] == 5


def test_arena_rank_rule() -> None:
    low = np.array([1200.0, 1100.0, 1090.0, 980.0])
    high = np.array([1260.0, 1180.0, 1170.0, 1020.0])
    assert list(arena_ranks(low, high)) == [1, 2, 2, 4]


def test_elo_gap_table() -> None:
    rates = [0.55, 0.60, 0.70, 0.75, 0.80, 0.90]
    gaps = [34.9, 70.4, 147.2, 190.8, 240.8, 381.7]
    np.testing.assert_allclose(elo_gap_from_support_rate(rates), gaps, atol=0.05)
    np.testing.assert_allclose(support_rate_from_elo_gap(elo_gap_from_support_rate(rates)), rates)
    assert pytest.approx(400 / math.log(10)) == ELO_SCALE


def test_no_mle_is_flagged_and_stays_finite() -> None:
    # model 2 never loses: no MLE without a ridge
    board = bradley_terry([0, 0, 1], [1, 2, 2], [30, 0, 0], [20, 10, 12])
    assert not board.mle_exists
    assert all(math.isfinite(x) for x in board.elo)
    assert board.elo[2] == max(board.elo)
    ridged = bradley_terry([0, 0, 1], [1, 2, 2], [30, 0, 0], [20, 10, 12], virtual_ties=1.0)
    assert ridged.mle_exists and ridged.elo[2] < board.elo[2]


def test_batched_mm_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    wins = rng.integers(1, 50, size=(4, 6, 6)).astype(float)
    for r in range(4):
        np.fill_diagonal(wins[r], 0.0)
    batch, _ = bt_mm(wins)
    for r in range(4):
        single, _ = bt_mm(wins[r][None])
        np.testing.assert_allclose(batch[r], single[0], atol=1e-8)


def test_validation() -> None:
    with pytest.raises(ValueError):
        bradley_terry([0], [0], [1], [1])
    with pytest.raises(ValueError):
        bradley_terry([0], [1], [1], [1], tie_mode="davidson")
    with pytest.raises(ValueError):
        bradley_terry([0], [1], [1], [1], names=["a"])
    with pytest.raises(ValueError):
        bradley_terry([0], [1], [1], [1], anchor=2)


def test_batched_connectivity_matches_csgraph() -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    from evalhub.stats.leaderboard import _strongly_connected_batch

    rng = np.random.default_rng(6)
    for m in (2, 3, 7, 12):
        wins = (rng.random((200, m, m)) < 2.0 / m) * 1.0
        wins[:, np.arange(m), np.arange(m)] = 0.0
        ours = _strongly_connected_batch(wins)
        ref = [
            connected_components(csr_matrix(x), directed=True, connection="strong")[0] == 1
            for x in wins
        ]
        np.testing.assert_array_equal(ours, ref)
        assert ours.any() or m > 7


def test_sparse_bootstrap_keeps_intervals_on_a_sane_scale() -> None:
    """A follow-up with few votes: the point MLE exists, but many bootstrap draws leave a version
    undefeated. Those replicates are ridged (one virtual tie per pair), so the interval stays
    within a few hundred Elo instead of drifting to the θ cap (about ±8,700 Elo)."""
    # base vs v1: 60 battles; v1 vs v2: 15 battles, v2 won 13 of them; v2 never met base.
    a, b = [1, 2], [0, 1]
    wins, losses = [45, 13], [15, 2]
    board = bradley_terry(a, b, wins, losses, bootstrap_resamples=1000, rng=3, tie_mode="drop")
    assert board.mle_exists
    assert board.bootstrap_ridged > 20  # 2 losses of 15: about 1 draw in 10 has none
    assert all(
        0 < lo <= hi < 2000 for lo, hi in zip(board.elo_ci_low, board.elo_ci_high, strict=True)
    )
    assert board.elo_ci_low[2] < board.elo[2] < board.elo_ci_high[2]
    dense = bradley_terry(
        a, b, [450, 130], [150, 20], bootstrap_resamples=300, rng=3, tie_mode="drop"
    )
    assert dense.bootstrap_ridged == 0
