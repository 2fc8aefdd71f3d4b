"""Data source registry API and the continuous import.

- ``GET /sources`` (evalhub.view_reports), ``POST /sources`` (evalhub.manage_data)
- ``GET /sources/{id}``, ``PATCH /sources/{id}`` (same split)
- ``POST /sources/{id}/records`` (evalhub.manage_data): a batch of records from an online
  system, append-only and idempotent by external id; honours ``Idempotency-Key``.

Per-source figures (volume, agreement, survival, support rate) need training data and live under
``/api/v1/data/sources`` (``training.data_api``).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import idempotent
from evalhub.api.permissions import HasPerm
from evalhub.models import DataSource
from evalhub.selectors.sources import data_sources_list
from evalhub.services.imports.records import BATCH_MAX, source_records_import
from evalhub.services.sources import EDITABLE, data_source_create, data_source_update

READ = HasPerm.of("evalhub.view_reports")
MANAGE = HasPerm.of("evalhub.manage_data")


class DataSourceSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DataSource
        fields = ["id", "created_by", "created_at", *EDITABLE]
        read_only_fields = ["id", "created_by", "created_at"]
        # Uniqueness is the service's 409. Length limits hold for what was sent: trimming first
        # would accept a body longer than the schema's maxLength (the service strips names).
        extra_kwargs = {
            "name": {"validators": [], "trim_whitespace": False},
            "owner": {"trim_whitespace": False},
        }


class _ReadOrManage(APIView):
    def get_permissions(self) -> list[BasePermission]:
        return [READ()] if self.request.method in ("GET", "HEAD", "OPTIONS") else [MANAGE()]


class DataSourceListCreate(_ReadOrManage):
    @extend_schema(operation_id="sources_list", responses={200: DataSourceSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(DataSourceSerializer(data_sources_list(), many=True).data)

    @extend_schema(
        operation_id="sources_create",
        request=DataSourceSerializer,
        responses={201: DataSourceSerializer},
    )
    def post(self, request: Request) -> Response:
        body = DataSourceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = {k: v for k, v in body.validated_data.items() if k != "is_active"}
        source = data_source_create(created_by=request.user, **data)
        return Response(DataSourceSerializer(source).data, status=status.HTTP_201_CREATED)


class DataSourceDetail(_ReadOrManage):
    @extend_schema(operation_id="sources_get", responses={200: DataSourceSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(DataSourceSerializer(get_object_or_404(DataSource, pk=pk)).data)

    @extend_schema(
        operation_id="sources_update",
        request=DataSourceSerializer,
        responses={200: DataSourceSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        source = get_object_or_404(DataSource, pk=pk)
        body = DataSourceSerializer(source, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        source = data_source_update(source=source, **body.validated_data)
        return Response(DataSourceSerializer(source).data)


class RecordsInSerializer(serializers.Serializer):
    records = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=BATCH_MAX,
        help_text="Each: external_id (required), instruction (required), input, system, "
        "history, reference, labels, split, outputs [{model, text, sample_index?}].",
    )
    skip_bad = serializers.BooleanField(
        default=False, help_text="Store the good records and list the bad ones."
    )


class RecordsReportSerializer(serializers.Serializer):
    records = serializers.IntegerField()
    accepted = serializers.IntegerField(help_text="created + unchanged: the same on a retry.")
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    duplicates = serializers.ListField(child=serializers.DictField())
    conflicts = serializers.ListField(
        child=serializers.DictField(),
        help_text="{item, external_id, prompt_id, reason: content_differs | other_source}",
    )
    outputs_created = serializers.IntegerField()
    outputs_unchanged = serializers.IntegerField()
    output_conflicts = serializers.ListField(child=serializers.DictField())
    labels_created = serializers.ListField(child=serializers.CharField())
    bad_records = serializers.ListField(child=serializers.DictField())


class DataSourceRecords(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        operation_id="sources_records",
        request=RecordsInSerializer,
        responses={
            200: RecordsReportSerializer,
            400: OpenApiResponse(description="`invalid_rows`: each bad record's item and field."),
            409: OpenApiResponse(description="`conflict`: the source is retired."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        source = get_object_or_404(DataSource, pk=pk)
        body = RecordsInSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        def write() -> Response:
            report = source_records_import(
                source=source,
                records=body.validated_data["records"],
                skip_bad=body.validated_data["skip_bad"],
            )
            return Response(report.as_dict(), status=status.HTTP_200_OK)

        return idempotent(request, f"source-records:{source.pk}", write)
