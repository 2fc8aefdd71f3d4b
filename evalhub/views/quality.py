"""/dashboard/<id>/quality/: rater quality of a campaign (roles pm, admin).

Raters with their check accuracy (Wilson interval), flags and exclusions; the support rate before
and after the exclusions; Exclude / Include / Exclude all flagged (POST with CSRF, manage_campaign).
Numbers come from ``evalhub.selectors.quality``; writes go through ``evalhub.services.quality``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from evalhub.models import Campaign
from evalhub.selectors.quality import campaign_quality_overview, gold_items
from evalhub.selectors.reports import campaign_get_for_report
from evalhub.selectors.reports.export import percent
from evalhub.services.errors import NotFound, ServiceError
from evalhub.services.quality import rater_exclude, rater_include, raters_exclude_flagged
from evalhub.views.dashboard import verdict_words
from evalhub.views.jobs import manager_required

GOLD_ITEMS_SHOWN = 50


def _campaign_or_404(pk: int) -> Campaign:
    try:
        return campaign_get_for_report(pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


def _headline(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        **row,
        "rate": percent(row["support_rate"]),
        "interval": f"{percent(row['ci_low'])}–{percent(row['ci_high'])}",
        "verdict_words": verdict_words(row["verdict"]),
    }


@require_GET
@login_required
@permission_required("evalhub.view_reports", raise_exception=True)
def campaign_quality(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    overview = campaign_quality_overview(campaign=campaign)
    block = overview["report"]
    for row in overview["raters"]:
        row["accuracy_pct"] = percent(row["accuracy"], 0)
        row["interval"] = (
            f"{percent(row['ci_low'], 0)}–{percent(row['ci_high'], 0)}"
            if row["accuracy"] is not None
            else ""
        )
    context = {
        "campaign": campaign,
        "overview": overview,
        "quality": block,
        "after": _headline(block["after_exclusion"]),
        "before": _headline(block["before_exclusion"]),
        "n_flagged": sum(1 for r in overview["raters"] if r["flagged"] and not r["excluded"]),
        "min_accuracy_pct": percent(campaign.gold_min_accuracy, 0),
        "check_accuracy_pct": percent(block["check_accuracy"], 0),
        "gold_items": list(gold_items(campaign=campaign)[:GOLD_ITEMS_SHOWN]),
        "can_manage": request.user.has_perm("evalhub.manage_campaign"),
    }
    return render(request, "evalhub/quality_campaign.html", context)


def _rater_or_none(request: HttpRequest) -> Any:
    rater_id = request.POST.get("rater", "")
    if not rater_id.isdecimal():
        return None
    return get_user_model().objects.filter(pk=int(rater_id)).first()


@require_POST
@manager_required
def quality_exclude(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    rater = _rater_or_none(request)
    if rater is None:
        messages.error(request, "Pick a rater to exclude.")
    else:
        reason = request.POST.get("reason", "").strip() or "excluded from the quality page"
        rater_exclude(campaign=campaign, rater=rater, reason=reason, actor=request.user)
        messages.success(request, f"{rater.get_username()}'s votes are left out of the reports.")
    return redirect("dashboard-quality", pk=campaign.pk)


@require_POST
@manager_required
def quality_include(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    rater = _rater_or_none(request)
    try:
        if rater is None:
            raise NotFound("Pick a rater to include.")
        rater_include(campaign=campaign, rater=rater, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{rater.get_username()}'s votes count again.")
    return redirect("dashboard-quality", pk=campaign.pk)


@require_POST
@manager_required
def quality_exclude_flagged(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    excluded = raters_exclude_flagged(campaign=campaign, actor=request.user)
    if excluded:
        names = ", ".join(e.rater.get_username() for e in excluded)
        noun = "rater" if len(excluded) == 1 else "raters"
        messages.success(request, f"Excluded {len(excluded)} flagged {noun}: {names}.")
    else:
        messages.info(request, "No flagged rater left to exclude.")
    return redirect("dashboard-quality", pk=campaign.pk)
