"""GET /api/v1/campaigns/{id}/report: the support-rate report as JSON or CSV (roles pm, admin)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.permissions import HasPerm
from evalhub.selectors.reports import (
    BREAKDOWNS,
    campaign_get_for_report,
    campaign_report,
    parse_breakdowns,
    report_csv,
)

FORMATS = ("json", "csv")


class CSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        return data.encode(self.charset) if isinstance(data, str) else data


class ErrorSerializer(serializers.Serializer):
    error = serializers.DictField(help_text='{"code", "message", "details"}')


class ReportQuerySerializer(serializers.Serializer):
    by = serializers.ChoiceField(choices=BREAKDOWNS, required=False, help_text="Breakdown.")
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, default="json", help_text="json or csv"
    )
    bootstrap = serializers.BooleanField(required=False, default=True, help_text="Bootstrap audit.")
    seed = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text="Seed of the bootstrap."
    )
    include_simulated = serializers.BooleanField(required=False, default=True)


class ReportSerializer(serializers.Serializer):
    """The main fields (the report carries more: see the CLI's JSON output or STATS.md)."""

    campaign = serializers.DictField()
    n_votes = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    both_bad = serializers.IntegerField()
    support_rate = serializers.FloatField(allow_null=True, help_text="wins / (wins + losses)")
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    ci_method = serializers.CharField(help_text="wilson, wilson_neff or clopper_pearson")
    confidence = serializers.FloatField()
    p_value = serializers.FloatField(help_text="exact two-sided binomial test against 50%")
    band = serializers.CharField(allow_null=True)
    verdict = serializers.CharField(help_text="a band, between:<low>..<high>, or insufficient_data")
    verdict_text = serializers.CharField()
    anytime_ci_low = serializers.FloatField()
    anytime_ci_high = serializers.FloatField()
    n_simulated = serializers.IntegerField()
    summary = serializers.CharField(help_text="A paragraph for a release note.")
    by_label = serializers.ListField(child=serializers.DictField())
    by_channel = serializers.ListField(child=serializers.DictField())
    by_rater = serializers.ListField(child=serializers.DictField(), required=False)
    by_day = serializers.ListField(child=serializers.DictField(), required=False)
    quality = serializers.DictField(
        help_text="Checks left out of the rate, excluded raters, the rate before / after exclusion."
    )


class CampaignReportView(APIView):
    permission_classes = [HasPerm.of("evalhub.view_reports")]
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Support-rate report of a campaign",
        parameters=[ReportQuerySerializer],  # the query as validated (seed >= 0 included)
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
            403: OpenApiResponse(ErrorSerializer, description="No evalhub.view_reports."),
            404: OpenApiResponse(ErrorSerializer, description="No such campaign."),
        },
    )
    def get(self, request: Request, id: int) -> Response:
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        by = parse_breakdowns(options.get("by"))
        report = campaign_report(
            campaign_get_for_report(id),
            by=by,
            bootstrap=options["bootstrap"],
            seed=options["seed"],
            include_simulated=options["include_simulated"],
        )
        if options["format"] != "csv":
            return Response(report)
        filename = f"campaign-{report['campaign']['id']}-report.csv"
        return Response(
            report_csv(report, by),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ?format= alone picks the body; an unknown value is left to the query serializer (400).
        if request.query_params.get("format") == "csv":
            return (CSVRenderer(), CSVRenderer.media_type)
        return (renderers.JSONRenderer(), "application/json")

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and not isinstance(response.data, str):
            # Errors keep the API's one JSON shape, even when CSV was asked for.
            response.accepted_renderer = renderers.JSONRenderer()
            response.accepted_media_type = "application/json"
        return response
