"""PM dashboard: every campaign's verdict at a glance, and one campaign in depth (roles pm, admin).

Numbers come from the report selectors; this module only adds display strings (percentages,
verdict words) and bar geometry. Data for the chart reaches the page through ``json_script``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from evalhub.selectors.reports import campaign_get_for_report, campaign_report
from evalhub.selectors.reports.dashboard import campaign_summaries, lineage_leaderboard
from evalhub.selectors.reports.export import p_value_phrase, percent, verdict_sentence
from evalhub.services.errors import NotFound
from evalhub.stats import DEFAULT_BANDS
from evalhub.stats.bands import BAND_LABELS, BAND_NAMES

VIEW_REPORTS = "evalhub.view_reports"
PERCENT_KEYS = (
    "support_rate", "ci_low", "ci_high", "anytime_ci_low", "anytime_ci_high", "tie_rate",
    "tie_rate_ci_low", "tie_rate_ci_high", "both_bad_rate", "both_bad_rate_ci_low",
    "both_bad_rate_ci_high", "ties_half_rate", "ties_half_ci_low", "ties_half_ci_high",
    "bootstrap_ci_low", "bootstrap_ci_high", "left_share", "left_share_ci_low",
    "left_share_ci_high", "balanced_support_rate", "left_pick_share", "agreement_with_majority",
    "cum_support_rate", "cum_ci_low", "cum_ci_high",
)  # fmt: skip
CHART_KEYS = (
    "day", "n_votes", "cum_n_votes", "cum_support_rate", "cum_ci_low", "cum_ci_high",
    "anytime_ci_low", "anytime_ci_high",
)  # fmt: skip
CI_METHOD_WORDS = {
    "wilson": "Wilson",
    "wilson_neff": "Wilson, adjusted for several votes per prompt",
    "clopper_pearson": "Clopper–Pearson",
}


def band_scale() -> list[dict[str, Any]]:
    """The colored bands as segments of a 0–100% scale (for the interval bars)."""
    edges = [0.0, *(float(e) for e in DEFAULT_BANDS.edges), 1.0]
    return [
        {
            "name": name,
            "label": BAND_LABELS[name],
            "left": edges[i] * 100,
            "width": (edges[i + 1] - edges[i]) * 100,
        }
        for i, name in enumerate(BAND_NAMES)
    ]


def verdict_words(verdict: str) -> str:
    if verdict.startswith("between:"):
        low, high = verdict.removeprefix("between:").split("..")
        return f"Between {BAND_LABELS[low].lower()} and {BAND_LABELS[high].lower()}"
    return BAND_LABELS.get(verdict, verdict)


def _bar(low: float | None, high: float | None, point: float | None) -> dict[str, float] | None:
    if point is None or low is None or high is None:
        return None
    return {"left": low * 100, "width": max(0.4, (high - low) * 100), "point": point * 100}


def _decorate(row: dict[str, Any]) -> dict[str, Any]:
    """Display strings and bar geometry beside a report (or slice) row's numbers."""
    row["pct"] = {key: percent(row.get(key)) for key in PERCENT_KEYS if key in row}
    if "verdict" in row:
        row["verdict_words"] = verdict_words(row["verdict"])
        row["verdict_class"] = row["verdict"].split(":")[0].split("..")[0]
    if "anytime_verdict" in row:
        row["anytime_words"] = verdict_words(row["anytime_verdict"]).lower()
    if "ci_low" in row and "support_rate" in row:
        row["bar"] = _bar(row["ci_low"], row["ci_high"], row["support_rate"])
    if "anytime_ci_low" in row and "support_rate" in row:
        row["anytime_bar"] = _bar(
            row["anytime_ci_low"], row["anytime_ci_high"], row["support_rate"]
        )
    return row


@login_required
@permission_required(VIEW_REPORTS, raise_exception=True)
def campaign_list(request: HttpRequest) -> HttpResponse:
    summaries = [_decorate(row) for row in campaign_summaries()]
    return render(
        request, "evalhub/dashboard_list.html", {"summaries": summaries, "bands": band_scale()}
    )


@login_required
@permission_required(VIEW_REPORTS, raise_exception=True)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        campaign = campaign_get_for_report(pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    report = campaign_report(campaign, by=("rater", "day"), bootstrap=True)
    chart_data = {
        "days": [{key: day[key] for key in CHART_KEYS} for day in report["by_day"]],
        "bands": band_scale(),
    }
    _decorate(report)
    report["p_phrase"] = p_value_phrase(report["p_value"], report["log10_p"])
    report["ci_method_words"] = CI_METHOD_WORDS.get(report["ci_method"], report["ci_method"])
    for key in ("by_label", "by_channel", "by_rater", "by_day"):
        for row in report[key]:
            _decorate(row)
    if report["position_bias"]:
        _decorate(report["position_bias"])
        report["position_bias"]["p_phrase"] = p_value_phrase(
            report["position_bias"]["p_value"], None
        )
    api = reverse("api-campaign-report", args=[campaign.pk])
    context = {
        "campaign": campaign,
        "report": report,
        "verdict_sentence": verdict_sentence(report),
        "bar": report["bar"],
        "anytime_bar": report["anytime_bar"],
        "bands": band_scale(),
        "leaderboard": lineage_leaderboard(campaign),
        "chart_data": chart_data,
        "downloads": {
            "json": f"{api}?by=label",
            "csv": f"{api}?format=csv&by=label",
            "csv_raters": f"{api}?format=csv&by=rater",
            "csv_days": f"{api}?format=csv&by=day",
        },
    }
    return render(request, "evalhub/dashboard_campaign.html", context)
