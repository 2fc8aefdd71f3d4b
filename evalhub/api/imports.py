"""Import API: POST /imports/prompts, /imports/outputs, /imports/battles (multipart ``file``).

201 with the import report; 400 ``invalid_rows`` (each bad row's line and field, nothing stored)
or ``malformed_file`` (the file as a whole cannot be read). Needs evalhub.manage_campaign.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.permissions import HasPerm
from evalhub.models import DataSource
from evalhub.selectors.sources import data_source_get
from evalhub.services.errors import ServiceError
from evalhub.services.imports import (
    FORMATS,
    LABEL_SEPARATOR,
    ImportTable,
    battles_import,
    import_file_read,
    outputs_import,
    prompts_import,
)

MANAGE = HasPerm.of("evalhub.manage_campaign")


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, help_text="Default: from the file name's extension."
    )
    skip_bad = serializers.BooleanField(
        default=False, help_text="Store the good rows and list the bad ones instead of failing."
    )
    source = serializers.CharField(
        max_length=200,
        required=False,
        help_text="A registered data source (name or id) every new row comes from "
        "(400 when there is none of that name).",
    )

    def validate_source(self, value: str) -> DataSource:
        try:
            return data_source_get(value)
        except ServiceError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def data_source(self) -> DataSource | None:
        return self.validated_data.get("source")

    def source_note(self) -> str:
        source = self.data_source()
        return source.name if source is not None else (self.validated_data["file"].name or "")


class OutputsUploadSerializer(ImportUploadSerializer):
    create_models = serializers.BooleanField(
        default=False, help_text="Register unknown model versions (backend imported)."
    )


class BattlesUploadSerializer(ImportUploadSerializer):
    campaign = serializers.CharField(max_length=200, help_text="Campaign name (created if new).")
    baseline = serializers.CharField(max_length=200, help_text="Baseline model version name.")
    candidate = serializers.CharField(max_length=200, help_text="Candidate model version name.")


class DuplicateRowSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="CSV: header is line 1; JSON array: item number.")
    where = serializers.CharField(help_text='"line N" or "item N".')
    reason = serializers.CharField()


class BadRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    where = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    kind = serializers.CharField()
    format = serializers.CharField()
    rows = serializers.IntegerField(help_text="Rows read from the file.")
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Bad rows skipped (skip_bad only).")
    duplicate_rows = DuplicateRowSerializer(many=True)
    bad_rows = BadRowSerializer(many=True)
    ignored_columns = serializers.ListField(child=serializers.CharField())


class PromptImportReportSerializer(ImportReportSerializer):
    labels_created = serializers.ListField(child=serializers.CharField())


class OutputImportReportSerializer(ImportReportSerializer):
    models_created = serializers.ListField(child=serializers.CharField())


class BattleImportReportSerializer(ImportReportSerializer):
    recorded = serializers.IntegerField()
    skipped_other_pairs = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    campaign_created = serializers.BooleanField()
    models_created = serializers.ListField(child=serializers.CharField())
    prompts_created = serializers.IntegerField()
    outputs_created = serializers.IntegerField()
    comparisons_created = serializers.IntegerField()


class ImportErrorDetailsSerializer(serializers.Serializer):
    errors = BadRowSerializer(many=True, required=False, help_text="invalid_rows only.")
    n_errors = serializers.IntegerField(required=False, help_text="All bad fields, even unlisted.")


class ImportErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid_rows, malformed_file or invalid.")
    message = serializers.CharField()
    details = ImportErrorDetailsSerializer()


class ImportErrorSerializer(serializers.Serializer):
    error = ImportErrorBodySerializer()


BAD_REQUEST = OpenApiResponse(
    response=ImportErrorSerializer,
    description='`{"error": {"code": "invalid_rows", "message", "details": {"errors": [{"line", '
    '"where", "field", "message"}], "n_errors"}}}` (nothing stored), or code `malformed_file` '
    "(not UTF-8, not parseable, empty, required columns missing).",
)


def _table(body: serializers.Serializer) -> ImportTable:
    upload = body.validated_data["file"]
    return import_file_read(
        data=upload.read(), filename=upload.name or "", format=body.validated_data.get("format")
    )


def _schema(name: str, request: type, report: type, description: str) -> Any:
    return extend_schema(
        operation_id=f"import_{name}",
        description=description,
        request={"multipart/form-data": request},
        responses={201: report, 400: BAD_REQUEST},
    )


class _ImportView(APIView):
    permission_classes = [MANAGE]
    parser_classes = [MultiPartParser, FormParser]


class PromptImportView(_ImportView):
    @_schema(
        "prompts",
        ImportUploadSerializer,
        PromptImportReportSerializer,
        "Prompts from CSV, JSON Lines or Alpaca JSON: instruction (required), input, system, "
        "output (reference), history, labels (JSON list, or in CSV one cell separated by "
        f"`{LABEL_SEPARATOR}`), external_id (or id / question_id), split, source.",
    )
    def post(self, request: Request) -> Response:
        body = ImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = prompts_import(
            table=_table(body),
            skip_bad=body.validated_data["skip_bad"],
            source=body.source_note(),
            data_source=body.data_source(),
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class OutputImportView(_ImportView):
    @_schema(
        "outputs",
        OutputsUploadSerializer,
        OutputImportReportSerializer,
        "Outputs from CSV or JSON Lines: prompt_external_id, model, text; optional "
        "sample_index, params, latency_ms, prompt_tokens, completion_tokens.",
    )
    def post(self, request: Request) -> Response:
        body = OutputsUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = outputs_import(
            table=_table(body),
            skip_bad=body.validated_data["skip_bad"],
            create_models=body.validated_data["create_models"],
            data_source=body.data_source(),
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class BattleImportView(_ImportView):
    @_schema(
        "battles",
        BattlesUploadSerializer,
        BattleImportReportSerializer,
        "Chatbot Arena style battles (JSON list or JSON Lines) between `baseline` and "
        "`candidate`, recorded as imported votes of `campaign`; other pairs are skipped.",
    )
    def post(self, request: Request) -> Response:
        body = BattlesUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        report = battles_import(
            table=_table(body),
            campaign_name=data["campaign"],
            baseline_name=data["baseline"],
            candidate_name=data["candidate"],
            skip_bad=data["skip_bad"],
            source=body.source_note(),
            data_source=body.data_source(),
            created_by=request.user,
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)
