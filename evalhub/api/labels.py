"""Label taxonomy API: the tree, one label with its history, and the changes.

- ``GET /labels`` (evalhub.view_reports): the tree with prompt counts; ``?merged=1`` includes
  merged labels. ``POST /labels`` (evalhub.manage_data): create ``{name, parent?, description?}``.
- ``GET /labels/{id}``: the label and its events. ``PATCH /labels/{id}`` (manage_data):
  ``name`` (rename), ``description``, ``parent`` (move; null for a root), each one event.
- ``POST /labels/{id}/merge`` (manage_data): ``{into}``; the event lists the items moved.

Per-label results (usable data, agreement, support rate) need training data and live under
``/api/v1/data/labels`` (``training.data_api``).
"""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.permissions import HasPerm
from evalhub.models import Label, LabelEvent
from evalhub.selectors.labels import label_events, label_tree
from evalhub.services.labels import (
    label_create,
    label_describe,
    label_merge,
    label_move,
    label_rename,
)

READ = HasPerm.of("evalhub.view_reports")
MANAGE = HasPerm.of("evalhub.manage_data")


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "parent", "description", "is_active", "merged_into"]
        read_only_fields = fields


class LabelEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LabelEvent
        fields = ["id", "label", "action", "before", "after", "moved", "actor", "created_at"]
        read_only_fields = fields


class LabelInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class LabelChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), required=False, allow_null=True
    )


class LabelMergeSerializer(serializers.Serializer):
    into = serializers.PrimaryKeyRelatedField(queryset=Label.objects.all())


class _ReadOrManage(APIView):
    def get_permissions(self) -> list[BasePermission]:
        return [READ()] if self.request.method in ("GET", "HEAD", "OPTIONS") else [MANAGE()]


class LabelListCreate(_ReadOrManage):
    @extend_schema(
        operation_id="labels_tree",
        responses={200: {"type": "array", "items": {"type": "object"}}},
    )
    def get(self, request: Request) -> Response:
        merged = request.query_params.get("merged") in ("1", "true")
        return Response([node.as_dict() for node in label_tree(include_merged=merged)])

    @extend_schema(
        operation_id="labels_create", request=LabelInSerializer, responses={201: LabelSerializer}
    )
    def post(self, request: Request) -> Response:
        body = LabelInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        label = label_create(actor=request.user, **body.validated_data)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetail(_ReadOrManage):
    @extend_schema(operation_id="labels_get", responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        label = get_object_or_404(Label, pk=pk)
        events = LabelEventSerializer(label_events(label=label), many=True).data
        return Response({**LabelSerializer(label).data, "events": events})

    @extend_schema(
        operation_id="labels_update",
        request=LabelChangeSerializer,
        responses={200: LabelSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        label = get_object_or_404(Label, pk=pk)
        body = LabelChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():  # one request, all of its changes or none
            if "name" in data:
                label = label_rename(label=label, name=data["name"], actor=request.user)
            if "description" in data:
                label = label_describe(
                    label=label, description=data["description"], actor=request.user
                )
            if "parent" in data:
                label = label_move(label=label, parent=data["parent"], actor=request.user)
        return Response(LabelSerializer(label).data)


class LabelMerge(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        operation_id="labels_merge",
        request=LabelMergeSerializer,
        responses={200: LabelEventSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        label = get_object_or_404(Label, pk=pk)
        body = LabelMergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = label_merge(label=label, into=body.validated_data["into"], actor=request.user)
        return Response(LabelEventSerializer(event).data)
