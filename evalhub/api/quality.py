"""Rater quality API (roles pm, admin): check accuracy per rater, gold items, attention checks,
and excluding raters from a campaign's reports.

- ``GET  /api/v1/campaigns/{id}/quality``: raters (checks answered, accuracy, Wilson interval,
  flagged, excluded), check totals, and the support rate before / after exclusions.
- ``POST /api/v1/campaigns/{id}/exclusions``: ``{"rater": name or id, "reason"}`` or
  ``{"flagged": true}`` (every flagged rater); retries with an ``Idempotency-Key`` replay.
- ``DELETE /api/v1/campaigns/{id}/exclusions/{rater_id}``: the rater's votes count again.
- ``POST /api/v1/campaigns/{id}/gold``: ``{"items": [{"key", "outcome"}]}`` marks gold items.
- ``POST /api/v1/campaigns/{id}/attention-checks``: ``{"count", "seed"}`` adds attention checks.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import idempotent
from evalhub.api.permissions import HasPerm
from evalhub.api.reports import ErrorSerializer
from evalhub.models import Campaign, RaterExclusion
from evalhub.models.campaigns import Outcome
from evalhub.selectors.quality import campaign_quality_overview
from evalhub.selectors.reports import campaign_get_for_report
from evalhub.services.errors import NotFound
from evalhub.services.quality import (
    GoldMarkRow,
    attention_checks_create,
    gold_mark_many,
    rater_exclude,
    rater_include,
    raters_exclude_flagged,
)

VIEW = HasPerm.of("evalhub.view_reports")
MANAGE = HasPerm.of("evalhub.manage_campaign")
IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    403: OpenApiResponse(ErrorSerializer, description="Missing permission."),
    404: OpenApiResponse(ErrorSerializer, description="No such campaign (or rater)."),
}


class RaterQualitySerializer(serializers.Serializer):
    rater_id = serializers.IntegerField()
    username = serializers.CharField()
    n_votes = serializers.IntegerField()
    gold_answered = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    attention_answered = serializers.IntegerField()
    attention_failed = serializers.IntegerField()
    answered = serializers.IntegerField(help_text="checks answered (gold + attention)")
    correct = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True, help_text="Wilson 95%")
    ci_high = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField()
    excluded = serializers.BooleanField()
    exclusion_reason = serializers.CharField(allow_blank=True)


class QualitySerializer(serializers.Serializer):
    campaign = serializers.DictField()
    settings = serializers.DictField(help_text="gold_share, gold_min_accuracy, gold_min_answers")
    raters = RaterQualitySerializer(many=True)
    report = serializers.DictField(help_text="The report's quality block (before / after).")


class ExclusionRequestSerializer(serializers.Serializer):
    rater = serializers.CharField(required=False, help_text="Username or user id.")
    flagged = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("rater")) == bool(attrs["flagged"]):
            raise serializers.ValidationError('Give either "rater" or "flagged": true.')
        return attrs


class ExclusionSerializer(serializers.ModelSerializer):
    rater = serializers.CharField(source="rater.username")
    excluded_by = serializers.CharField(source="excluded_by.username", allow_null=True)

    class Meta:
        model = RaterExclusion
        fields = ["rater", "rater_id", "reason", "gold_accuracy", "gold_answers", "excluded_by"]
        read_only_fields = fields


class GoldItemSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Prompt external id, prompt id or comparison public id.")
    outcome = serializers.ChoiceField(choices=Outcome.values)


class GoldRequestSerializer(serializers.Serializer):
    items = GoldItemSerializer(many=True, allow_empty=False)


class GoldResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class AttentionResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()


class AttentionRequestSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=10_000)
    seed = serializers.IntegerField(required=False, allow_null=True, default=None)


def _rater(ref: str) -> Any:
    users = get_user_model().objects
    user = users.filter(username=ref).first() or (
        users.filter(pk=int(ref)).first() if (ref.isascii() and ref.isdigit()) else None
    )
    if user is None:
        raise NotFound(f"No user {ref!r}.")
    return user


class CampaignQualityView(APIView):
    permission_classes = [VIEW]

    @extend_schema(
        summary="Rater quality of a campaign", responses={200: QualitySerializer, **ERRORS}
    )
    def get(self, request: Request, id: int) -> Response:
        overview = campaign_quality_overview(campaign=campaign_get_for_report(id))
        return Response(QualitySerializer(overview).data)


class ExclusionListView(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        summary="Exclude a rater (or every flagged rater) from the campaign's reports",
        parameters=[IDEMPOTENCY],
        request=ExclusionRequestSerializer,
        responses={201: ExclusionSerializer(many=True), **ERRORS},
    )
    def post(self, request: Request, id: int) -> Response:
        campaign = campaign_get_for_report(id)
        body = ExclusionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            if data["flagged"]:
                rows = raters_exclude_flagged(
                    campaign=campaign, reason=data["reason"], actor=request.user
                )
            else:
                rater = _rater(data["rater"])
                rows = [
                    rater_exclude(
                        campaign=campaign, rater=rater, reason=data["reason"], actor=request.user
                    )
                ]
            serialized = ExclusionSerializer(rows, many=True).data
            return Response(serialized, status=status.HTTP_201_CREATED)

        return idempotent(request, f"campaign-exclusions:{campaign.pk}", write)


class ExclusionDetailView(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        summary="Bring an excluded rater's votes back into the reports",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, id: int, rater_id: int) -> Response:
        campaign = campaign_get_for_report(id)
        rater_include(campaign=campaign, rater=_rater(str(rater_id)), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GoldItemsView(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        summary="Mark comparisons as gold items with their known outcome",
        request=GoldRequestSerializer,
        responses={200: GoldResultSerializer, **ERRORS},
    )
    def post(self, request: Request, id: int) -> Response:
        campaign: Campaign = campaign_get_for_report(id)
        body = GoldRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rows = [GoldMarkRow(item["key"], item["outcome"]) for item in body.validated_data["items"]]
        marked = gold_mark_many(campaign=campaign, rows=rows, actor=request.user)
        return Response({"marked": len(marked)})


class AttentionChecksView(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        summary="Add attention checks (a real answer against another prompt's answer)",
        request=AttentionRequestSerializer,
        responses={201: AttentionResultSerializer, **ERRORS},
    )
    def post(self, request: Request, id: int) -> Response:
        campaign = campaign_get_for_report(id)
        body = AttentionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = attention_checks_create(
            campaign=campaign, actor=request.user, **body.validated_data
        )
        return Response({"created": len(created)}, status=status.HTTP_201_CREATED)
