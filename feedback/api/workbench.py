"""The support system's side of the workbench.

POST /api/v1/workbench/conversations              queue a conversation that needs a reply
GET  /api/v1/workbench/conversations?campaign=&status=&since=   poll (e.g. replies sent)
GET  /api/v1/workbench/conversations/{id}         one conversation, with its reply once sent
GET  /api/v1/workbench/conversations/{id}/reply   just the reply: status queued | sent
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import HEADER, idempotent
from evalhub.models import Campaign
from evalhub.services.errors import NotFound
from feedback.api.common import PUSH_CONVERSATIONS, THROTTLE_SCOPE, FeedbackThrottle
from feedback.models import Conversation
from feedback.services.conversations import ConversationIn, conversation_push


class MessageSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="customer or agent (user / assistant also accepted)")
    text = serializers.CharField(trim_whitespace=False)


class ConversationInSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text="The workbench campaign whose queue it joins.")
    external_id = serializers.CharField(
        required=False, allow_blank=True, max_length=200, default=""
    )
    channel = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    subject = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")
    system = serializers.CharField(required=False, allow_blank=True, default="")
    messages = serializers.ListField(child=serializers.DictField(), allow_empty=False)


class ReplySerializer(serializers.Serializer):
    conversation = serializers.UUIDField()
    external_id = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    text = serializers.CharField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)


class ConversationOutSerializer(serializers.Serializer):
    conversation = serializers.UUIDField()
    external_id = serializers.CharField(allow_blank=True)
    campaign = serializers.IntegerField()
    channel = serializers.CharField(allow_blank=True)
    subject = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    messages = MessageSerializer(many=True)
    queued_at = serializers.DateTimeField()
    reply = ReplySerializer(allow_null=True)


class ConversationPageSerializer(serializers.Serializer):
    """One page of conversations (limit / offset)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConversationOutSerializer(many=True)


def _reply(conversation: Conversation) -> dict[str, Any]:
    sent = conversation.status == Conversation.Status.SENT
    return {
        "conversation": conversation.public_id,
        "external_id": conversation.external_id,
        "status": conversation.status,
        "text": conversation.reply_text if sent else None,
        "sent_at": conversation.sent_at,
    }


def _out(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation": conversation.public_id,
        "external_id": conversation.external_id,
        "campaign": conversation.campaign_id,
        "channel": conversation.channel,
        "subject": conversation.subject,
        "status": conversation.status,
        "messages": conversation.messages,
        "queued_at": conversation.created_at,
        "reply": _reply(conversation) if conversation.status == Conversation.Status.SENT else None,
    }


def _conversation(public_id: str) -> Conversation:
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        key = None
    conversation = Conversation.objects.filter(public_id=key).first() if key else None
    if conversation is None:
        raise NotFound("No such conversation.", code="unknown_conversation")
    return conversation


class ConversationListCreateView(APIView):
    permission_classes = [PUSH_CONVERSATIONS]
    throttle_classes = [FeedbackThrottle]
    throttle_scope = THROTTLE_SCOPE

    @extend_schema(
        operation_id="workbench_conversation_push",
        request=ConversationInSerializer,
        responses={201: ConversationOutSerializer, 200: ConversationOutSerializer},
        parameters=[OpenApiParameter(HEADER, str, OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request: Request) -> Response:
        body = ConversationInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            campaign = Campaign.objects.filter(pk=data["campaign"]).first()
            if campaign is None:
                raise NotFound(f"No campaign with id {data['campaign']}.", code="unknown_campaign")
            conversation, created = conversation_push(
                campaign=campaign,
                data=ConversationIn(
                    messages=data["messages"],
                    external_id=data["external_id"],
                    channel=data["channel"],
                    subject=data["subject"],
                    system=data["system"],
                ),
                created_by=request.user,
            )
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return Response(ConversationOutSerializer(_out(conversation)).data, status=code)

        return idempotent(request, "workbench-conversations", write)

    @extend_schema(
        operation_id="workbench_conversation_list",
        responses={200: ConversationPageSerializer},
        parameters=[
            OpenApiParameter("limit", int, required=False, description="Page size (100)."),
            OpenApiParameter("offset", int, required=False),
            OpenApiParameter("campaign", int, required=False),
            OpenApiParameter("status", str, enum=Conversation.Status.values, required=False),
            OpenApiParameter("external_id", str, required=False),
            OpenApiParameter("since", str, description="Sent or queued after (ISO 8601)"),
        ],
    )
    def get(self, request: Request) -> Response:
        query = _ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = Conversation.objects.order_by("created_at", "id")
        filters = query.validated_data
        if filters.get("campaign"):
            rows = rows.filter(campaign_id=filters["campaign"])
        if filters.get("status"):
            rows = rows.filter(status=filters["status"])
        if filters.get("external_id"):
            rows = rows.filter(external_id=filters["external_id"])
        if filters.get("since"):
            field = "sent_at" if filters.get("status") == "sent" else "created_at"
            rows = rows.filter(**{f"{field}__gt": filters["since"]}).order_by(field, "id")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(rows, request, view=self) or []
        data = ConversationOutSerializer([_out(c) for c in page], many=True).data
        return paginator.get_paginated_response(data)


class _ListQuery(serializers.Serializer):
    campaign = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(choices=Conversation.Status.values, required=False)
    external_id = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False)


class ConversationDetailView(APIView):
    permission_classes = [PUSH_CONVERSATIONS]

    @extend_schema(
        operation_id="workbench_conversation_get", responses={200: ConversationOutSerializer}
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(ConversationOutSerializer(_out(_conversation(public_id))).data)


class ConversationReplyView(APIView):
    permission_classes = [PUSH_CONVERSATIONS]

    @extend_schema(operation_id="workbench_conversation_reply", responses={200: ReplySerializer})
    def get(self, request: Request, public_id: str) -> Response:
        return Response(ReplySerializer(_reply(_conversation(public_id))).data)
