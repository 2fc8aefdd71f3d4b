"""``campaign_report``: the report JSON of one campaign (CLI, API, dashboard and exports)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from evalhub.models import Campaign, Label
from evalhub.selectors.reports import counts as db
from evalhub.selectors.reports.export import report_text
from evalhub.selectors.reports.slices import CONFIDENCE, by_evidence, slice_rows
from evalhub.services.errors import InvalidInput, NotFound
from evalhub.stats import (
    DEFAULT_BANDS,
    anytime_p_values,
    beta_binomial_cs,
    describe_verdict,
    krippendorff_alpha_nominal,
    position_bias,
    support_rate_report,
    wilson_interval,
)

BREAKDOWNS = ("label", "rater", "day")
BOOTSTRAP_RESAMPLES = 2000


def campaign_get_for_report(pk: int | str) -> Campaign:
    """A campaign by primary key (the API's {id}); NotFound otherwise."""
    campaign = (
        Campaign.objects.select_related("baseline", "candidate", "candidate__parent")
        .filter(pk=int(pk) if str(pk).isdigit() else -1)
        .first()
    )
    if campaign is None:
        raise NotFound(f"No campaign with id {pk}.")
    return campaign


def parse_breakdowns(by: str | Iterable[str] | None) -> tuple[str, ...]:
    """``None``, one of label / rater / day, or several of them."""
    if by is None or by == "":
        return ()
    wanted = (by,) if isinstance(by, str) else tuple(by)
    unknown = [b for b in wanted if b not in BREAKDOWNS]
    if unknown:
        raise InvalidInput(
            f"Unknown breakdown {unknown[0]!r}; use one of {', '.join(BREAKDOWNS)}.",
            details={"field": "by"},
        )
    return wanted


def campaign_report(
    campaign: Campaign,
    *,
    by: str | Iterable[str] | None = None,
    bootstrap: bool = True,
    seed: int = 0,
    include_simulated: bool = True,
) -> dict[str, Any]:
    """The campaign's support-rate report as plain JSON values.

    Always: the headline (support rate, primary CI, exact test, band and verdict, anytime-valid
    interval, tie / both-bad / ties-as-half rates, design effect, votes to settle, bootstrap
    audit), position bias, rater agreement, ``by_label`` and ``by_channel``. ``by='rater'`` adds
    ``by_rater``; ``by='day'`` adds ``by_day``. Superseded votes never count; simulated votes
    count unless ``include_simulated=False`` and are reported as ``n_simulated``.
    """
    views = parse_breakdowns(by)
    groups = db.vote_groups([campaign.pk], include_simulated=include_simulated)
    _, per_prompt = db.group_sums([groups.prompt_id], groups.counts)
    _, per_item = db.group_sums([groups.item_id], groups.counts)
    raters = db.rater_groups(campaign.pk, include_simulated=include_simulated)
    w_j, l_j, t_j, b_j = (per_prompt[:, i] for i in range(4))
    overall = support_rate_report(
        w_j,
        l_j,
        t_j,
        b_j,
        confidence=CONFIDENCE,
        rater_wins=raters.counts[:, 0],
        rater_losses=raters.counts[:, 1],
        agreement_value_counts=per_item.astype(np.float64).reshape(-1, 4),
        bootstrap_resamples=BOOTSTRAP_RESAMPLES if bootstrap else 0,
        rng=seed,
    )
    result: dict[str, Any] = {
        "campaign": _campaign_info(campaign),
        "generated_at": timezone.now().isoformat(),
        "include_simulated": include_simulated,
    }
    body = overall.to_dict()
    for nested in ("position", "raters", "slots"):
        body.pop(nested)
    result.update(body)
    anytime = DEFAULT_BANDS.verdict(
        overall.anytime_ci_low, overall.anytime_ci_high, overall.n_decisive
    )
    result.update(
        anytime_verdict=anytime,
        anytime_verdict_text=describe_verdict(
            anytime, overall.anytime_ci_low, overall.anytime_ci_high, CONFIDENCE
        ),
        n_simulated=int(groups.simulated.sum()),
        n_raters=sum(1 for r, j in zip(raters.rater_id, raters.judge, strict=True) if r or j),
        n_rater_outliers=0 if overall.raters is None else overall.raters.n_outliers,
        planned_votes=campaign.comparisons.count() * campaign.votes_per_prompt,
        position_bias=_position(groups),
        agreement=_agreement(per_item, overall.agreement_alpha),
        by_label=_by_label(campaign.pk, include_simulated),
        by_channel=_by_channel(groups),
    )
    if "rater" in views:
        result["by_rater"] = _by_rater(campaign.pk, raters, overall.raters, include_simulated)
    if "day" in views:
        result["by_day"] = _by_day(campaign.pk, include_simulated)
    result = plain(result)
    result["summary"] = report_text(result)
    return result


def _campaign_info(campaign: Campaign) -> dict[str, Any]:
    parent = campaign.candidate.parent
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "kind": campaign.kind,
        "status": campaign.status,
        "baseline": campaign.baseline.name,
        "candidate": campaign.candidate.name,
        "candidate_parent": None if parent is None else parent.name,
        "votes_per_prompt": campaign.votes_per_prompt,
        "created_at": campaign.created_at,
        "opened_at": campaign.opened_at,
        "closed_at": campaign.closed_at,
    }


def _position(groups: db.VoteGroups) -> dict[str, Any] | None:
    (w_left, l_left), (w_right, l_right) = groups.ft_left.sum(axis=0), groups.ft_right.sum(axis=0)
    if w_left + l_left + w_right + l_right == 0:
        return None
    bias = position_bias(
        int(w_left), int(l_left), int(w_right), int(l_right), confidence=CONFIDENCE
    )
    return dataclasses.asdict(bias)


def _agreement(per_item: np.ndarray, alpha: float | None) -> dict[str, Any]:
    """Krippendorff's α over items (comparisons) on the four outcomes and on the direction."""
    items = per_item.reshape(-1, 4)
    pairable = items.sum(axis=1) >= 2
    direction = np.column_stack([items[:, 0], items[:, 1], items[:, 2] + items[:, 3]])
    return {
        "krippendorff_alpha": alpha,
        "krippendorff_alpha_direction": krippendorff_alpha_nominal(direction.astype(np.float64))
        if pairable.any()
        else None,
        "n_items": int(items.shape[0]),
        "n_pairable_items": int(pairable.sum()),
        "n_pairable_votes": int(items[pairable].sum()),
        "categories": ["candidate", "baseline", "tie", "both_bad"],
    }


def _by_label(campaign_id: int, include_simulated: bool) -> list[dict[str, Any]]:
    groups = db.label_groups(campaign_id, include_simulated=include_simulated)
    label_ids, code = np.unique(groups.label_id, return_inverse=True)
    names = {
        pk: (name, parent)
        for pk, name, parent in Label.objects.filter(pk__in=label_ids.tolist()).values_list(
            "pk", "name", "parent__name"
        )
    }
    rows = slice_rows(code.ravel(), groups.counts, len(label_ids))
    for label_id, row in zip(label_ids.tolist(), rows, strict=True):
        name, parent = names.get(label_id, (f"label {label_id}", None))
        row.update(slice=name, label=name, label_id=label_id, parent=parent)
    return by_evidence(rows)


def _by_channel(groups: db.VoteGroups) -> list[dict[str, Any]]:
    channels, code = np.unique(np.asarray(groups.channel, dtype=object), return_inverse=True)
    (code_col, _), summed = db.group_sums(
        [code.ravel().astype(np.int64), groups.prompt_id], groups.counts
    )
    rows = slice_rows(code_col, summed, len(channels))
    for channel, row in zip(channels.tolist(), rows, strict=True):
        row.update(slice=channel or "(none)", channel=channel)
    return by_evidence(rows)


def _by_rater(
    campaign_id: int, raters: db.RaterGroups, summary: Any, include_simulated: bool
) -> list[dict[str, Any]]:
    keys = list(zip(raters.rater_id, raters.judge, strict=True))
    user_ids = [r for r in raters.rater_id if r is not None]
    usernames = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    agreement = {
        (r, j): (pairable, agree)
        for r, j, pairable, agree in db.rater_majority_agreement(
            campaign_id, include_simulated=include_simulated
        )
    }
    medians = _median_seconds(
        db.rater_time_histogram(campaign_id, include_simulated=include_simulated)
    )
    w, lo = raters.counts[:, 0], raters.counts[:, 1]
    ci_low, ci_high = wilson_interval(w, w + lo, confidence=CONFIDENCE)
    rows = []
    for i, key in enumerate(keys):
        rater_id, judge = key
        pairable, agree = agreement.get(key, (0, 0))
        n = int(w[i] + lo[i])
        sided = int(raters.sided[i])
        rows.append(
            {
                "slice": usernames.get(rater_id) or judge or "(unknown)",
                "rater": usernames.get(rater_id) or judge or "(unknown)",
                "rater_id": rater_id,
                "judge": judge,
                "n_votes": int(raters.counts[i].sum()),
                "wins": int(w[i]),
                "losses": int(lo[i]),
                "ties": int(raters.counts[i, 2]),
                "both_bad": int(raters.counts[i, 3]),
                "n_decisive": n,
                "support_rate": int(w[i]) / n if n else None,
                "ci_low": float(ci_low[i]),
                "ci_high": float(ci_high[i]),
                "p_value_vs_pooled": summary.p_value[i] if summary else None,
                "p_value_holm": summary.p_value_holm[i] if summary else None,
                "outlier": bool(summary.outlier[i]) if summary else False,
                "left_pick_share": int(raters.left_picks[i]) / sided if sided else None,
                "n_sided": sided,
                "agreement_with_majority": agree / pairable if pairable else None,
                "n_pairable": pairable,
                "median_time_s": medians.get(key),
            }
        )
    return sorted(rows, key=lambda r: (-r["n_votes"], r["rater"]))


def _median_seconds(
    histogram: list[tuple[int | None, str, int, int]],
) -> dict[tuple[int | None, str], float]:
    """Median seconds per rater from whole-second buckets, interpolated inside the bucket."""
    per_rater: dict[tuple[int | None, str], list[tuple[int, int]]] = {}
    for rater_id, judge, second, n in histogram:
        per_rater.setdefault((rater_id, judge), []).append((int(second), int(n)))
    medians = {}
    for key, buckets in per_rater.items():
        seconds, n = (np.asarray(col) for col in zip(*sorted(buckets), strict=True))
        cumulative = np.cumsum(n)
        half = cumulative[-1] / 2.0
        i = int(np.searchsorted(cumulative, half))
        before = cumulative[i - 1] if i else 0
        medians[key] = float(seconds[i] + (half - before) / n[i])
    return medians


def _by_day(campaign_id: int, include_simulated: bool) -> list[dict[str, Any]]:
    days = db.day_groups(campaign_id, include_simulated=include_simulated)
    if not days.day:
        return []
    counts = days.counts
    cumulative = np.cumsum(counts, axis=0)
    cw, cl = cumulative[:, 0], cumulative[:, 1]
    fixed_low, fixed_high = wilson_interval(cw, cw + cl, confidence=CONFIDENCE)
    cs_low, cs_high = beta_binomial_cs(cw, cl, alpha=1.0 - CONFIDENCE)
    running_low, running_high = np.maximum.accumulate(cs_low), np.minimum.accumulate(cs_high)
    p_any = anytime_p_values(cw, cl)
    rows = []
    for i, day in enumerate(days.day):
        n_day = int(counts[i, 0] + counts[i, 1])
        n_cum = int(cw[i] + cl[i])
        rows.append(
            {
                "slice": day.isoformat(),
                "day": day.isoformat(),
                "n_votes": int(counts[i].sum()),
                "wins": int(counts[i, 0]),
                "losses": int(counts[i, 1]),
                "ties": int(counts[i, 2]),
                "both_bad": int(counts[i, 3]),
                "support_rate": int(counts[i, 0]) / n_day if n_day else None,
                "cum_n_votes": int(cumulative[i].sum()),
                "cum_wins": int(cw[i]),
                "cum_losses": int(cl[i]),
                "cum_support_rate": int(cw[i]) / n_cum if n_cum else None,
                "cum_ci_low": float(fixed_low[i]),
                "cum_ci_high": float(fixed_high[i]),
                "anytime_ci_low": float(cs_low[i]),
                "anytime_ci_high": float(cs_high[i]),
                "anytime_running_low": float(running_low[i]),
                "anytime_running_high": float(running_high[i]),
                "anytime_p_value": float(p_any[i]),
            }
        )
    return rows


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN / ±inf to None, datetimes to ISO strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
