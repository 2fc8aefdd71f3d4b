"""Per-source figures and per-label results as JSON (evalhub.view_reports).

- ``GET /api/v1/data/sources?campaign=ID``: one row per source (``source_figures``).
- ``GET /api/v1/data/labels?campaign=ID&min_pairs=N&min_decisive=N``: the taxonomy with usable
  data, agreement and support rate per label (``label_results``).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.permissions import HasPerm
from evalhub.models import Campaign
from training.selectors.data_figures import (
    MIN_DECISIVE_VOTES,
    MIN_USABLE_PAIRS,
    label_results,
    source_figures,
)

READ = HasPerm.of("evalhub.view_reports")


class FiguresQuerySerializer(serializers.Serializer):
    campaign = serializers.IntegerField(required=False, min_value=1)
    min_pairs = serializers.IntegerField(required=False, min_value=0, default=MIN_USABLE_PAIRS)
    min_decisive = serializers.IntegerField(required=False, min_value=0, default=MIN_DECISIVE_VOTES)


def _query(request: Request) -> tuple[Campaign | None, dict[str, int]]:
    query = FiguresQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    pk = data.pop("campaign", None)
    return (get_object_or_404(Campaign, pk=pk) if pk else None), data


CAMPAIGN = OpenApiParameter("campaign", int, description="Restrict votes and pairs to a campaign.")


class SourceFiguresView(APIView):
    permission_classes = [READ]

    @extend_schema(operation_id="data_sources_figures", parameters=[CAMPAIGN], responses=dict)
    def get(self, request: Request) -> Response:
        campaign, _ = _query(request)
        return Response({"sources": source_figures(campaign=campaign)})


class LabelResultsView(APIView):
    permission_classes = [READ]

    @extend_schema(
        operation_id="data_labels_results",
        parameters=[
            CAMPAIGN,
            OpenApiParameter("min_pairs", int, description="Usable pairs below: data missing."),
            OpenApiParameter("min_decisive", int, description="Decisive votes below: missing."),
        ],
        responses=dict,
    )
    def get(self, request: Request) -> Response:
        campaign, thresholds = _query(request)
        return Response(label_results(campaign=campaign, **thresholds))
