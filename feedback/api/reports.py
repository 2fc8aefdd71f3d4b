"""GET /api/v1/feedback/campaigns/{id}/report: thumbs or workbench figures (roles pm, admin)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.models import Campaign
from evalhub.services.errors import InvalidInput, NotFound
from feedback.api.common import VIEW_REPORTS
from feedback.reports import thumbs_report, workbench_report

REPORTS = {Campaign.Kind.THUMBS: thumbs_report, Campaign.Kind.WORKBENCH: workbench_report}


class FeedbackReportView(APIView):
    permission_classes = [VIEW_REPORTS]

    @extend_schema(operation_id="feedback_campaign_report", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, id: int) -> Response:
        campaign = Campaign.objects.select_related("baseline", "candidate").filter(pk=id).first()
        if campaign is None:
            raise NotFound(f"No campaign with id {id}.")
        report = REPORTS.get(campaign.kind)
        if report is None:
            raise InvalidInput(
                f"Campaign {id} is a {campaign.kind} campaign; its support rate is in "
                f"/api/v1/campaigns/{id}/report.",
                code="wrong_campaign",
            )
        return Response(report(campaign))
