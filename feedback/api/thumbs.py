"""POST /api/v1/feedback/thumbs: a product's user thumbed an answer up or down."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import HEADER, idempotent
from feedback.api.common import SEND_FEEDBACK, THROTTLE_SCOPE, FeedbackThrottle
from feedback.models import Thumb
from feedback.services.thumbs import MAX_COMMENT, thumb_record


class ThumbInSerializer(serializers.Serializer):
    value = serializers.ChoiceField(choices=Thumb.Value.values)
    output_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="evalhub's id of the answer."
    )
    trace_id = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="",
        help_text="Or: the product's id of the answer shown (with model_version and text).",
    )  # fmt: skip
    model_version = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="",
        help_text="Name of the model version that wrote the answer (with trace_id).",
    )  # fmt: skip
    text = serializers.CharField(
        required=False, allow_blank=True, max_length=50_000, default="", trim_whitespace=False,
        help_text="The answer text shown (with trace_id).",
    )  # fmt: skip
    prompt = serializers.CharField(
        required=False, allow_blank=True, max_length=50_000, default="",
        help_text="What the user asked (a new trace needs prompt or prompt_id).",
    )  # fmt: skip
    prompt_id = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="",
        help_text="The product's id of the question (pairs answers of both models).",
    )  # fmt: skip
    campaign = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Thumbs campaign id."
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_COMMENT, default=""
    )
    channel = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    user = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default="",
        help_text="The product's anonymous id of its user; their latest thumb on an answer counts.",
    )  # fmt: skip


class ThumbOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.CharField()
    output_id = serializers.IntegerField()
    campaign = serializers.IntegerField(allow_null=True)
    replaced_previous = serializers.BooleanField()
    recorded_at = serializers.DateTimeField()


class ThumbCreateView(APIView):
    permission_classes = [SEND_FEEDBACK]
    throttle_classes = [FeedbackThrottle]
    throttle_scope = THROTTLE_SCOPE

    @extend_schema(
        operation_id="feedback_thumb_create",
        request=ThumbInSerializer,
        responses={201: ThumbOutSerializer},
        parameters=[OpenApiParameter(HEADER, str, OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request: Request) -> Response:
        body = ThumbInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            recorded = thumb_record(
                sent_by=request.user,
                value=data["value"],
                output_id=data.get("output_id"),
                trace_id=data["trace_id"],
                model_version=data["model_version"],
                text=data["text"],
                prompt=data["prompt"],
                prompt_id=data["prompt_id"],
                campaign_id=data["campaign"],
                comment=data["comment"],
                channel=data["channel"],
                product_user_id=data["user"],
                idempotency_key=request.headers.get(HEADER, ""),
            )
            thumb = recorded.thumb
            out = {
                "id": thumb.pk,
                "value": thumb.value,
                "output_id": thumb.output_id,
                "campaign": thumb.campaign_id,
                "replaced_previous": recorded.replaced_previous,
                "recorded_at": thumb.created_at,
            }
            return Response(ThumbOutSerializer(out).data, status=status.HTTP_201_CREATED)

        return idempotent(request, "feedback-thumbs", write)
