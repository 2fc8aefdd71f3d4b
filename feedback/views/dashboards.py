"""Feedback dashboards for PMs (roles pm, admin) and the public docs of the thumbs snippet.

/feedback/                    feedback campaigns (thumbs, workbench, choice) at a glance
/feedback/thumbs/<id>/        thumbs-up rates and their comparison
/feedback/workbench/<id>/     workbench support rate, none usable, slot bias, edits
/feedback/docs/thumbs/        how a product sends thumbs (the copy-paste JS snippet)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from evalhub.models import Campaign
from evalhub.stats import DEFAULT_BANDS
from evalhub.stats.bands import BAND_LABELS, BAND_NAMES
from feedback.models import ChoiceTask, Conversation, Thumb
from feedback.reports import thumbs_report, workbench_report
from feedback.views.common import error_page, role_required

SNIPPET = Path(__file__).resolve().parent.parent / "static" / "feedback" / "evalhub-thumbs.js"
FEEDBACK_KINDS = (Campaign.Kind.THUMBS, Campaign.Kind.WORKBENCH, Campaign.Kind.CHOICE)

pm_required = role_required(
    "evalhub.view_reports",
    title="Feedback figures are for PMs",
    message="Your account needs the pm or admin role to read feedback figures.",
)


def _count(queryset: Any) -> Coalesce:
    return Coalesce(
        Subquery(
            queryset.order_by().values("campaign_id").annotate(n=Count("pk")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def band_segments() -> list[dict[str, Any]]:
    edges = [0.0, *(float(e) for e in DEFAULT_BANDS.edges), 1.0]
    return [
        {
            "name": name,
            "label": BAND_LABELS[name],
            "left": f"{edges[i] * 100:.2f}",
            "width": f"{(edges[i + 1] - edges[i]) * 100:.2f}",
        }
        for i, name in enumerate(BAND_NAMES)
    ]


@require_GET
@pm_required
def index(request: HttpRequest) -> HttpResponse:
    """Every feedback campaign with its volume (one query)."""
    here = OuterRef("pk")
    campaigns = (
        Campaign.objects.filter(kind__in=FEEDBACK_KINDS)
        .select_related("baseline", "candidate")
        .annotate(
            n_thumbs=_count(Thumb.objects.filter(campaign_id=here, is_current=True)),
            n_queued=_count(Conversation.objects.filter(campaign_id=here, status="queued")),
            n_sent=_count(Conversation.objects.filter(campaign_id=here, status="sent")),
            n_choices=_count(ChoiceTask.objects.filter(campaign_id=here, status="picked")),
        )
        .order_by("kind", "-created_at")
    )
    return render(request, "feedback/index.html", {"campaigns": list(campaigns)})


def _feedback_campaign(request: HttpRequest, pk: int, kind: str) -> Campaign | HttpResponse:
    campaign = Campaign.objects.select_related("baseline", "candidate").filter(pk=pk).first()
    if campaign is None or campaign.kind != kind:
        return error_page(
            request,
            status=404,
            title=f"No such {kind} campaign",
            message=f"There is no {kind} campaign with id {pk}.",
            back_url=reverse("feedback"),
            back_label="Back to feedback campaigns",
        )
    return campaign


@require_GET
@pm_required
def thumbs_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _feedback_campaign(request, pk, Campaign.Kind.THUMBS)
    if isinstance(campaign, HttpResponse):
        return campaign
    report = thumbs_report(campaign)
    main = report["paired"] if report["comparison"] == "paired" else report["unpaired"]
    context = {
        "campaign": campaign,
        "report": report,
        "main": main,
        "models": [report["models"]["candidate"], report["models"]["baseline"]],
        "api_url": reverse("api-feedback-report", args=[campaign.pk]),
    }
    return render(request, "feedback/thumbs_dashboard.html", context)


@require_GET
@pm_required
def workbench_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _feedback_campaign(request, pk, Campaign.Kind.WORKBENCH)
    if isinstance(campaign, HttpResponse):
        return campaign
    report = workbench_report(campaign)
    slots = report["slots"]["picks"]
    total = sum(slots)
    context = {
        "campaign": campaign,
        "report": report,
        "support": report["support"],
        "bands": band_segments(),
        "verdict_label": BAND_LABELS.get(report["support"]["verdict"], ""),
        "slot_rows": [
            {"slot": i, "picks": n, "share": n / total if total else None}
            for i, n in enumerate(slots, start=1)
        ],
        "edit_rows": [
            {"source": "candidate", **report["edits"]["candidate"]},
            {"source": "baseline", **report["edits"]["baseline"]},
        ],
        "api_url": reverse("api-feedback-report", args=[campaign.pk]),
    }
    return render(request, "feedback/workbench_dashboard.html", context)


@require_GET
def thumbs_docs(request: HttpRequest) -> HttpResponse:
    """How a product sends thumbs; public (it holds no secret)."""
    context = {
        "snippet": SNIPPET.read_text(),
        "api_url": request.build_absolute_uri("/api/v1/feedback/thumbs"),
        "thumbs_campaigns": Campaign.objects.filter(
            Q(kind=Campaign.Kind.THUMBS) & Q(status=Campaign.Status.OPEN)
        ).values_list("pk", "name")
        if request.user.has_perm("evalhub.view_reports")
        else [],
    }
    return render(request, "feedback/docs_thumbs.html", context)
