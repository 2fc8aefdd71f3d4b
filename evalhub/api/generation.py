"""POST /api/v1/campaigns/{id}/generate: queue the job that generates a campaign's missing outputs."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import idempotent
from evalhub.api.jobs import MANAGE, JobDetailSerializer
from evalhub.models import Campaign
from evalhub.services.generation import OVERRIDABLE, SAMPLING_CHOICES, campaign_generate_enqueue


class GenerateRequestSerializer(serializers.Serializer):
    sample_index = serializers.IntegerField(min_value=0, default=0)
    sampling = serializers.ChoiceField(
        choices=SAMPLING_CHOICES,
        default="shared",
        help_text="shared: the baseline's sampling parameters for both sides; own: each its own.",
    )
    temperature = serializers.FloatField(min_value=0, required=False)
    top_p = serializers.FloatField(min_value=0, max_value=1, required=False)
    max_tokens = serializers.IntegerField(min_value=1, required=False)
    seed = serializers.IntegerField(required=False, allow_null=True)


class CampaignGenerate(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        operation_id="campaign_generate",
        request=GenerateRequestSerializer,
        responses={202: JobDetailSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        description="Queue a generation job: the missing baseline and candidate outputs, then "
        "the campaign opens. 409 (with details.job_id) while one is queued or running; 400 "
        "when a side is an imported model that lacks outputs.",
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=pk)
        body = GenerateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)

        def write() -> Response:
            job = campaign_generate_enqueue(
                campaign=campaign,
                created_by=request.user,
                sample_index=data["sample_index"],
                sampling=data["sampling"],
                params_override={key: data[key] for key in OVERRIDABLE if key in data},
            )
            return Response(JobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, f"campaign-generate:{campaign.pk}", write)
