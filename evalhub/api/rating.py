"""Rater API: GET /campaigns/{id}/next and POST /votes (blind; see selectors.rating)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import idempotent
from evalhub.api.permissions import HasPerm
from evalhub.models.campaigns import Choice
from evalhub.selectors.rating import (
    assignment_blind_payload,
    assignment_get_for_rater,
    campaign_get_for_rating,
)
from evalhub.services.rating import assignment_next, assignment_skip, vote_record


class AnswerSerializer(serializers.Serializer):
    text = serializers.CharField()
    html = serializers.CharField(help_text="Sanitized HTML rendering of the markdown text.")


class BlindPromptSerializer(serializers.Serializer):
    system = serializers.CharField(allow_blank=True)
    history = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    instruction = serializers.CharField()
    input = serializers.CharField(allow_blank=True)
    instruction_html = serializers.CharField()
    input_html = serializers.CharField(allow_blank=True)


class AssignmentSerializer(serializers.Serializer):
    token = serializers.CharField()
    prompt = BlindPromptSerializer()
    left = AnswerSerializer()
    right = AnswerSerializer()
    expires_at = serializers.DateTimeField()


class VoteInSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64)
    choice = serializers.ChoiceField(choices=Choice.values)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    next = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also reserve and return the rater's next assignment in this campaign (saves a request).",
    )


class VoteOutSerializer(serializers.Serializer):
    status = serializers.CharField()
    choice = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    next = AssignmentSerializer(
        required=False,
        allow_null=True,
        help_text="With next=true: the next assignment, or null when done.",
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64)


RATE = HasPerm.of("evalhub.rate_campaign")


class NextAssignmentView(APIView):
    permission_classes = [RATE]

    @extend_schema(
        operation_id="campaign_next_assignment",
        responses={
            200: AssignmentSerializer,
            204: OpenApiResponse(description="Nothing left to rate."),
        },
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
    )
    def get(self, request: Request, id: int) -> Response:
        campaign = campaign_get_for_rating(campaign_id=id, rater=request.user)
        assignment = assignment_next(campaign=campaign, rater=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AssignmentSerializer(assignment_blind_payload(assignment=assignment)).data)


class VoteCreateView(APIView):
    permission_classes = [RATE]

    @extend_schema(
        operation_id="vote_create",
        request=VoteInSerializer,
        responses={201: VoteOutSerializer},
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
    )
    def post(self, request: Request) -> Response:
        body = VoteInSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        def write() -> Response:
            vote = vote_record(
                rater=request.user,
                token=body.validated_data["token"],
                choice=body.validated_data["choice"],
                reason=body.validated_data["reason"],
                idempotency_key=request.headers.get("Idempotency-Key", ""),
                channel="api",
            )
            out = {"status": "recorded", "choice": vote.choice, "recorded_at": vote.created_at}
            data = dict(VoteOutSerializer(out).data)
            data.pop("next", None)
            return Response(data, status=status.HTTP_201_CREATED)

        response = idempotent(request, "votes", write)
        if response.status_code == 201 and body.validated_data["next"]:
            # Outside the vote's transaction (and not part of a replayed record): a retry gets
            # the rater's live reservation again, which is the same next item.
            response.data = {**response.data, "next": self._next_payload(request, body)}
        return response

    @staticmethod
    def _next_payload(request: Request, body: VoteInSerializer) -> dict | None:
        voted = assignment_get_for_rater(rater=request.user, token=body.validated_data["token"])
        campaign = campaign_get_for_rating(
            campaign_id=voted.comparison.campaign_id, rater=request.user
        )
        following = assignment_next(campaign=campaign, rater=request.user)
        return following and dict(
            AssignmentSerializer(assignment_blind_payload(assignment=following)).data
        )


class SkipView(APIView):
    permission_classes = [RATE]

    @extend_schema(operation_id="assignment_skip", request=TokenSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        body = TokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignment_skip(rater=request.user, token=body.validated_data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)
