"""One call from per-prompt counts to a complete support-rate report (STATS.md §8 checklist)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from evalhub.stats._arrays import IntArray, RngLike, as_counts, float_or_none
from evalhub.stats.bands import DEFAULT_BANDS, Bands, describe_verdict
from evalhub.stats.clustered import BootstrapResult, cluster_bootstrap, design_effect
from evalhub.stats.diagnostics import (
    PositionBias,
    RaterSummary,
    SlotTest,
    krippendorff_alpha_nominal,
    position_bias,
    rater_summary,
    workbench_slot_test,
)
from evalhub.stats.intervals import clopper_pearson_interval, ties_half_interval, wilson_interval
from evalhub.stats.planning import votes_to_settle
from evalhub.stats.sequential import anytime_p_values, beta_binomial_cs
from evalhub.stats.significance import score_test_p_value, sign_test

OUTCOME_WIN, OUTCOME_LOSS, OUTCOME_TIE, OUTCOME_BOTH_BAD = 0, 1, 2, 3
CI_METHODS = ("auto", "wilson", "wilson_neff", "clopper_pearson")
MIN_PROMPTS_FOR_DEFF = 20


@dataclass(frozen=True)
class PromptCounts:
    """Per-prompt outcome counts (one entry per prompt)."""

    wins: IntArray
    losses: IntArray
    ties: IntArray
    both_bad: IntArray


def aggregate_votes(
    prompt_index: ArrayLike, outcome: ArrayLike, *, n_prompts: int | None = None
) -> PromptCounts:
    """Per-prompt counts from vote rows in O(N) with one ``np.bincount`` (§2.4).

    ``prompt_index`` is 0..J−1 (map ids with ``np.unique(..., return_inverse=True)``);
    ``outcome`` uses OUTCOME_WIN / LOSS / TIE / BOTH_BAD (0..3).
    """
    p = np.asarray(prompt_index, dtype=np.int64).ravel()
    o = np.asarray(outcome, dtype=np.int64).ravel()
    if p.shape != o.shape:
        raise ValueError("prompt_index and outcome must have the same length")
    if o.size and (o.min() < 0 or o.max() > 3):
        raise ValueError("outcome codes must be 0 (win), 1 (loss), 2 (tie) or 3 (both bad)")
    j = int(n_prompts if n_prompts is not None else p.max(initial=-1) + 1)
    counts = np.bincount(p * 4 + o, minlength=4 * j).reshape(j, 4)
    return PromptCounts(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3])


@dataclass(frozen=True)
class SupportRateReport:
    """Everything a dashboard shows for one campaign or slice. ``to_dict()`` is JSON-ready."""

    n_votes: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    n_decisive: int
    n_prompts: int  # prompts with at least one vote
    support_rate: float | None  # W/(W+L); None when there are no decisive votes
    ci_low: float  # primary interval (the one the verdict uses)
    ci_high: float
    ci_method: str  # "wilson", "wilson_neff" or "clopper_pearson"
    confidence: float
    p_value: float  # exact two-sided binomial test vs ½ (always shown)
    p_value_greater: float
    log10_p: float  # finite even when p_value underflows to 0
    p_value_score: float  # two-sided score test on n_eff (= n unclustered; the clustered test)
    better_than_base: bool  # W > L and the (clustered, if so) test rejects at alpha
    alpha: float
    band: str | None  # band of the point estimate
    verdict: str  # band / "between:<lo>..<hi>" / "insufficient_data"
    verdict_text: str
    delta: float
    wilson_ci_low: float  # iid Wilson, for reference
    wilson_ci_high: float
    clopper_pearson_ci_low: float
    clopper_pearson_ci_high: float
    tie_rate: float | None  # T/N
    tie_rate_ci_low: float
    tie_rate_ci_high: float
    both_bad_rate: float | None  # B/N
    both_bad_rate_ci_low: float
    both_bad_rate_ci_high: float
    both_bad_flag: bool  # quality flag: B/N above both_bad_threshold
    both_bad_threshold: float
    ties_half_rate: float | None  # (W + ½(T+B))/N, never used for the bands
    ties_half_ci_low: float  # Tango (counts divided by the design effect when clustered)
    ties_half_ci_high: float
    design_effect: float  # D̂eff floored at 1; 1 when prompts hold at most one decisive vote
    design_effect_raw: float | None
    n_eff: float
    implied_icc: float | None
    anytime_ci_low: float  # beta-binomial confidence sequence at the current counts
    anytime_ci_high: float
    anytime_p_value: float  # 1/M_n(½) at the current counts
    bootstrap_ci_low: float | None
    bootstrap_ci_high: float | None
    bootstrap_se: float | None
    bootstrap_method: str | None
    bootstrap_resamples: int
    decisive_votes_needed: int | None  # total decisive votes at which the CI settles (at p̂)
    additional_decisive_votes: int | None
    additional_votes: int | None  # incl. ties / both-bad at the current rate and Deff
    additional_decisive_votes_at_power: int | None
    additional_votes_at_power: int | None
    planning_power: float
    position: PositionBias | None
    raters: RaterSummary | None
    slots: SlotTest | None
    agreement_alpha: float | None  # Krippendorff's α (nominal)
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: ints, floats, str, bool, None, lists and dicts (NaN → None)."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}


def support_rate_report(
    wins: ArrayLike,
    losses: ArrayLike,
    ties: ArrayLike = 0,
    both_bad: ArrayLike = 0,
    *,
    confidence: float = 0.95,
    bands: Bands = DEFAULT_BANDS,
    interval: str = "auto",
    alpha: float = 0.05,
    both_bad_threshold: float = 0.20,
    planning_power: float = 0.8,
    wins_ft_left: ArrayLike | None = None,
    losses_ft_left: ArrayLike | None = None,
    rater_wins: ArrayLike | None = None,
    rater_losses: ArrayLike | None = None,
    slot_picks: ArrayLike | None = None,
    agreement_value_counts: ArrayLike | None = None,
    bootstrap_resamples: int = 0,
    bootstrap_method: str = "auto",
    rng: RngLike | None = None,
) -> SupportRateReport:
    """Support-rate report from per-prompt counts (arrays of W, L, T, B; scalars = one prompt).

    ``interval='auto'`` picks Wilson(n_eff) when several votes per prompt make D̂eff > 1,
    Clopper–Pearson in literal mode (δ = 0, §3.3), else Wilson. Optional inputs add the
    position-bias check (FT-on-left wins/losses; the rest were FT-on-right), per-rater
    outliers, workbench slot bias, Krippendorff's α, and a seeded prompt-cluster bootstrap
    (``bootstrap_resamples`` > 0 needs ``rng``: a Generator or an int seed).
    """
    if interval not in CI_METHODS:
        raise ValueError(f"interval must be one of {CI_METHODS}, got {interval!r}")
    w_j, l_j, t_j, b_j = _per_prompt(wins, losses, ties, both_bad)
    w, lo, t, b = int(w_j.sum()), int(l_j.sum()), int(t_j.sum()), int(b_j.sum())
    n, total = w + lo, w + lo + t + b
    warnings: list[str] = []

    deff = design_effect(w_j, w_j + l_j)
    # The design effect that applies: 1 unless prompts really carry several decisive votes.
    applied_deff = deff.design_effect if deff.clustered else 1.0
    method = interval
    if method == "auto":
        if deff.clustered:
            method = "wilson_neff"
        else:
            method = "clopper_pearson" if bands.delta == 0 else "wilson"
    d_eff = applied_deff if method == "wilson_neff" else 1.0  # what the CI and planning use
    n_eff = n / d_eff
    if deff.clustered and deff.n_prompts < MIN_PROMPTS_FOR_DEFF:
        warnings.append(
            f"only {deff.n_prompts} prompts with decisive votes: the design effect is noisy"
        )
    if method != "wilson_neff" and deff.clustered:
        warnings.append(f"{method} ignores clustering by prompt (design effect {applied_deff:.2f})")

    wilson_low, wilson_high = (float(x) for x in wilson_interval(w, n, confidence=confidence))
    cp_low, cp_high = (float(x) for x in clopper_pearson_interval(w, n, confidence=confidence))
    if method == "wilson_neff":
        rate = w / n if n else 0.0
        ci_low, ci_high = (
            float(x) for x in wilson_interval(rate * n_eff, n_eff, confidence=confidence)
        )
    elif method == "clopper_pearson":
        ci_low, ci_high = cp_low, cp_high
    else:
        ci_low, ci_high = wilson_low, wilson_high

    test = sign_test(w, lo)
    p_score = float(score_test_p_value(w / n, n_eff)) if n else 1.0
    badge_p = p_score if method == "wilson_neff" else test.p_value
    verdict = bands.verdict(ci_low, ci_high, n)

    tie_low, tie_high = wilson_interval(t, total, confidence=confidence)
    bb_low, bb_high = wilson_interval(b, total, confidence=confidence)
    both_bad_rate = b / total if total else None
    flag = both_bad_rate is not None and both_bad_rate > both_bad_threshold
    if flag:
        warnings.append(f"both-bad rate {both_bad_rate:.1%} is above {both_bad_threshold:.0%}")
    half_low, half_high = ties_half_interval(
        w / d_eff, lo / d_eff, (t + b) / d_eff, confidence=confidence
    )

    cs_low, cs_high = beta_binomial_cs(w, lo, alpha=1.0 - confidence)
    plan = votes_to_settle(
        w, lo, t, b, design_effect=d_eff, bands=bands, confidence=confidence, power=planning_power
    )
    boot = _bootstrap(w_j, l_j, bootstrap_resamples, bootstrap_method, rng, confidence)

    position = None
    if wins_ft_left is not None or losses_ft_left is not None:
        position = _position(w, lo, wins_ft_left, losses_ft_left, confidence)
    raters = None
    if rater_wins is not None and rater_losses is not None:
        raters = rater_summary(rater_wins, rater_losses, alpha=alpha)
        if raters.n_outliers:
            warnings.append(f"{raters.n_outliers} rater(s) differ from the pooled rate")
    agreement = None
    if agreement_value_counts is not None:
        agreement = float_or_none(krippendorff_alpha_nominal(agreement_value_counts))

    return SupportRateReport(
        n_votes=total,
        wins=w,
        losses=lo,
        ties=t,
        both_bad=b,
        n_decisive=n,
        n_prompts=int(np.count_nonzero(w_j + l_j + t_j + b_j)),
        support_rate=w / n if n else None,
        ci_low=ci_low,
        ci_high=ci_high,
        ci_method=method,
        confidence=confidence,
        p_value=test.p_value,
        p_value_greater=test.p_value_greater,
        log10_p=test.log10_p,
        p_value_score=p_score,
        better_than_base=bool(w > lo and badge_p < alpha),
        alpha=alpha,
        band=bands.band_of_rate(w, lo),
        verdict=verdict,
        verdict_text=describe_verdict(verdict, ci_low, ci_high, confidence),
        delta=float(bands.delta),
        wilson_ci_low=wilson_low,
        wilson_ci_high=wilson_high,
        clopper_pearson_ci_low=cp_low,
        clopper_pearson_ci_high=cp_high,
        tie_rate=t / total if total else None,
        tie_rate_ci_low=float(tie_low),
        tie_rate_ci_high=float(tie_high),
        both_bad_rate=both_bad_rate,
        both_bad_rate_ci_low=float(bb_low),
        both_bad_rate_ci_high=float(bb_high),
        both_bad_flag=flag,
        both_bad_threshold=both_bad_threshold,
        ties_half_rate=(w + 0.5 * (t + b)) / total if total else None,
        ties_half_ci_low=float(half_low),
        ties_half_ci_high=float(half_high),
        design_effect=applied_deff,
        design_effect_raw=deff.design_effect_raw,
        n_eff=n / applied_deff,
        implied_icc=deff.implied_icc,
        anytime_ci_low=float(cs_low),
        anytime_ci_high=float(cs_high),
        anytime_p_value=float(anytime_p_values(w, lo)),
        bootstrap_ci_low=None if boot is None else boot.ci_low,
        bootstrap_ci_high=None if boot is None else boot.ci_high,
        bootstrap_se=None if boot is None else boot.se,
        bootstrap_method=None if boot is None else boot.method,
        bootstrap_resamples=0 if boot is None else boot.resamples,
        decisive_votes_needed=plan.decisive_needed_at_phat,
        additional_decisive_votes=plan.additional_decisive_at_phat,
        additional_votes=plan.additional_votes_at_phat,
        additional_decisive_votes_at_power=plan.additional_decisive_at_power,
        additional_votes_at_power=plan.additional_votes_at_power,
        planning_power=planning_power,
        position=position,
        raters=raters,
        slots=None if slot_picks is None else workbench_slot_test(slot_picks),
        agreement_alpha=agreement,
        warnings=tuple(warnings),
    )


def _per_prompt(
    wins: ArrayLike, losses: ArrayLike, ties: ArrayLike, both_bad: ArrayLike
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    arrays = [
        as_counts(x, name)
        for x, name in ((wins, "wins"), (losses, "losses"), (ties, "ties"), (both_bad, "both_bad"))
    ]
    try:
        shaped = np.broadcast_arrays(*[np.atleast_1d(a) for a in arrays])
    except ValueError as exc:
        raise ValueError("wins, losses, ties and both_bad must have one entry per prompt") from exc
    if shaped[0].ndim != 1:
        raise ValueError("per-prompt counts must be 1-D")
    w, lo, t, b = (np.ascontiguousarray(a) for a in shaped)
    return w, lo, t, b


def _bootstrap(
    w_j: IntArray,
    l_j: IntArray,
    resamples: int,
    method: str,
    rng: RngLike | None,
    confidence: float,
) -> BootstrapResult | None:
    if resamples <= 0:
        return None
    if rng is None:
        raise ValueError("bootstrap_resamples > 0 needs rng= (a numpy Generator or an int seed)")
    return cluster_bootstrap(
        w_j, w_j + l_j, rng=rng, resamples=resamples, method=method, confidence=confidence
    )


def _position(
    wins: int,
    losses: int,
    wins_ft_left: ArrayLike | None,
    losses_ft_left: ArrayLike | None,
    confidence: float,
) -> PositionBias:
    w_left = int(as_counts(0 if wins_ft_left is None else wins_ft_left, "wins_ft_left").sum())
    l_left = int(as_counts(0 if losses_ft_left is None else losses_ft_left, "losses_ft_left").sum())
    if w_left > wins or l_left > losses:
        raise ValueError("FT-on-left wins/losses cannot exceed the totals")
    return position_bias(w_left, l_left, wins - w_left, losses - l_left, confidence=confidence)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
