"""Training API under /api/v1/training/: pairs, dataset versions (freeze, detail, export),
training runs (start, live state, cancel, resume) and memory estimates.

Reads need ``training.view_trainingrun`` (pm, admin); writes ``training.manage_training``
(admin). Long work (building pairs, freezing) answers 202 with the job to follow at
``/api/v1/jobs/{id}``; a run is its own job (``status`` on the run).
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.campaigns import ModelNameField
from evalhub.api.permissions import HasPerm
from evalhub.models import Campaign, ModelVersion
from training.models import DatasetVersion, PreferencePair, TrainingRun
from training.models.pairs import PairSource
from training.selectors.datasets import datasets_list, pairs_list
from training.selectors.lineage import dataset_lineage, model_version_lineage
from training.selectors.runs import (
    memory_estimate,
    training_run_get,
    training_run_live,
    training_runs_list,
)
from training.services.exports import EXPORT_FORMATS, EXPORT_SPLITS, dataset_export_file
from training.services.jobs import dataset_freeze_enqueue, pairs_build_enqueue
from training.services.pairs import BUILDABLE
from training.services.runs import training_run_cancel, training_run_resume, training_run_start
from training.services.splits import SPLITS

VIEW = HasPerm.of("training.view_trainingrun")
MANAGE = HasPerm.of("training.manage_training")
CAMPAIGNS = Campaign.objects.all()


class PairSerializer(serializers.ModelSerializer):
    prompt_external_id = serializers.CharField(source="prompt.external_id", read_only=True)

    class Meta:
        model = PreferencePair
        fields = [
            "id", "prompt", "prompt_external_id", "chosen_text", "rejected_text", "chosen_output",
            "rejected_output", "source", "source_key", "campaign", "strength", "n_signals",
            "agreement", "is_active", "content_hash", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class PairsBuildSerializer(serializers.Serializer):
    sources = serializers.ListField(child=serializers.ChoiceField(BUILDABLE), required=False)
    campaigns = serializers.PrimaryKeyRelatedField(queryset=CAMPAIGNS, many=True, required=False)
    include_simulated = serializers.BooleanField(default=False)


class JobAcceptedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    job = serializers.CharField(help_text="Follow it here.")


class DatasetSerializer(serializers.ModelSerializer):
    runs = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id", "name", "description", "filters", "seed", "split_ratios",
            "near_duplicate_threshold", "counts", "exports", "created_at", "runs",
        ]  # fmt: skip
        read_only_fields = fields

    def get_runs(self, dataset: DatasetVersion) -> list[dict[str, Any]]:
        if not self.context.get("lineage"):
            return []
        return [
            {
                "id": run.pk,
                "name": run.name,
                "method": run.method,
                "status": run.status,
                "produced_model": run.produced_model.name if run.produced_model_id else None,
                "follow_up_campaign_id": run.follow_up_campaign_id,
            }
            for run in dataset_lineage(dataset)
        ]


class DatasetFreezeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    campaigns = serializers.PrimaryKeyRelatedField(queryset=CAMPAIGNS, many=True, required=False)
    sources = serializers.ListField(
        child=serializers.ChoiceField(PairSource.values), required=False
    )
    labels = serializers.ListField(child=serializers.CharField(), required=False)
    since = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)
    min_strength = serializers.IntegerField(min_value=1, default=1)
    min_agreement = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    include_examples = serializers.BooleanField(default=True)
    split = serializers.DictField(child=serializers.FloatField(), required=False,
                                  help_text='{"train": 80, "val": 10, "test": 10}')  # fmt: skip
    seed = serializers.IntegerField(min_value=0, default=0)
    near_duplicate_threshold = serializers.FloatField(default=0.8)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class RunSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    start_model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    produced_model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    live = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "name", "method", "dataset", "start_model", "config", "status", "job",
            "output_dir", "produced_model", "follow_up_campaign", "resumed_from", "created_at",
            "live",
        ]  # fmt: skip
        read_only_fields = fields

    def get_live(self, run: TrainingRun) -> dict[str, Any]:
        return training_run_live(run)


class RunStartSerializer(serializers.Serializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=DatasetVersion.objects.all())
    start_model = ModelNameField(slug_field="name", queryset=ModelVersion.objects.all())
    method = serializers.ChoiceField(["dpo", "sft", "reward"])
    config = serializers.DictField(required=False, default=dict)
    compare_against = ModelNameField(
        slug_field="name", queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )
    name = serializers.CharField(required=False, allow_blank=True, default="")


def _accepted(job: Any) -> Response:
    return Response({"job_id": job.pk, "job": f"/api/v1/jobs/{job.pk}"}, status.HTTP_202_ACCEPTED)


class PairList(generics.ListAPIView):
    permission_classes = [VIEW]
    serializer_class = PairSerializer

    @extend_schema(parameters=[OpenApiParameter("source", str), OpenApiParameter("campaign", int),
                               OpenApiParameter("active", bool)])  # fmt: skip
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        active = params.get("active", "true").lower()
        return pairs_list(
            source=params.get("source") or None,
            campaign_id=int(params["campaign"]) if params.get("campaign", "").isdecimal() else None,
            active=None if active == "all" else active in ("1", "true", "yes"),
        )


class PairsBuild(APIView):
    permission_classes = [MANAGE]

    @extend_schema(request=PairsBuildSerializer, responses={202: JobAcceptedSerializer})
    def post(self, request: Request) -> Response:
        data = PairsBuildSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = pairs_build_enqueue(**data.validated_data, created_by=request.user)
        return _accepted(job)


class DatasetListFreeze(generics.ListAPIView):
    permission_classes = [VIEW]
    serializer_class = DatasetSerializer
    queryset = datasets_list()

    def get_permissions(self) -> list[Any]:
        return [MANAGE()] if self.request.method == "POST" else [VIEW()]

    @extend_schema(request=DatasetFreezeSerializer, responses={202: JobAcceptedSerializer})
    def post(self, request: Request) -> Response:
        data = DatasetFreezeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        filters = {
            "campaigns": [c.pk for c in values.pop("campaigns", [])],
            "sources": values.pop("sources", []),
            "labels": values.pop("labels", []),
            "since": (s := values.pop("since", None)) and s.isoformat(),
            "until": (u := values.pop("until", None)) and u.isoformat(),
            "min_strength": values.pop("min_strength"),
            "min_agreement": values.pop("min_agreement"),
            "include_examples": values.pop("include_examples"),
        }
        split = values.pop("split", None)
        if split is not None and set(split) != set(SPLITS):
            raise serializers.ValidationError({"split": f"give {', '.join(SPLITS)}"})
        job = dataset_freeze_enqueue(
            filters=filters, split=split, created_by=request.user, **values
        )
        return _accepted(job)


class DatasetDetail(generics.RetrieveAPIView):
    permission_classes = [VIEW]
    serializer_class = DatasetSerializer
    queryset = DatasetVersion.objects.all()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "lineage": True}


class DatasetExport(APIView):
    permission_classes = [VIEW]

    @extend_schema(
        parameters=[OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(EXPORT_FORMATS)),
                    OpenApiParameter("split", str, OpenApiParameter.PATH, enum=list(EXPORT_SPLITS))],
        responses={(200, "application/octet-stream"): bytes},
    )  # fmt: skip
    def get(self, request: Request, pk: int, fmt: str, split: str) -> FileResponse:
        dataset = get_object_or_404(DatasetVersion, pk=pk)
        path = dataset_export_file(dataset=dataset, fmt=fmt, split=split)
        return FileResponse(path.open("rb"), as_attachment=True,
                            filename=f"{dataset.name}-{fmt}-{split}{path.suffix}")  # fmt: skip


class RunListStart(generics.ListAPIView):
    serializer_class = RunSerializer
    queryset = training_runs_list()

    def get_permissions(self) -> list[Any]:
        return [MANAGE()] if self.request.method == "POST" else [VIEW()]

    @extend_schema(request=RunStartSerializer, responses={201: RunSerializer})
    def post(self, request: Request) -> Response:
        data = RunStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = training_run_start(**data.validated_data, created_by=request.user)
        return Response(RunSerializer(training_run_get(run.pk)).data, status.HTTP_201_CREATED)


class RunDetail(APIView):
    permission_classes = [VIEW]

    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RunSerializer(training_run_get(pk)).data)


class RunCancel(APIView):
    permission_classes = [MANAGE]

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = training_run_cancel(run=training_run_get(pk))
        return Response(RunSerializer(training_run_get(run.pk)).data)


class RunResume(APIView):
    permission_classes = [MANAGE]

    @extend_schema(request=None, responses={201: RunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        run = training_run_resume(run=training_run_get(pk), created_by=request.user)
        return Response(RunSerializer(training_run_get(run.pk)).data, status.HTTP_201_CREATED)


class ModelLineage(APIView):
    permission_classes = [VIEW]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, name: str) -> Response:
        lineage = model_version_lineage(get_object_or_404(ModelVersion, name=name))
        run = lineage["produced_by"]
        return Response(
            {
                "model": name,
                "parent": lineage["parent"].name if lineage["parent"] else None,
                "dataset": lineage["dataset"].name if lineage["dataset"] else None,
                "training_run": {"id": run.pk, "name": run.name, "method": run.method}
                if run
                else None,
                "trained_from": [{"id": r.pk, "name": r.name} for r in lineage["trained_from"]],
                "campaigns": [
                    {
                        "id": c.pk,
                        "name": c.name,
                        "role": "candidate"
                        if c.candidate_id == lineage["model"].pk
                        else "baseline",
                        "status": c.status,
                    }
                    for c in lineage["campaigns"]
                ],
            }
        )


class MemoryEstimate(APIView):
    permission_classes = [VIEW]

    @extend_schema(
        parameters=[OpenApiParameter("model", str, required=True, description="model version name"),
                    OpenApiParameter("method", str), OpenApiParameter("batch_size", int),
                    OpenApiParameter("seq_len", int), OpenApiParameter("lora_r", int)],
        responses={200: dict},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        params = request.query_params
        model = get_object_or_404(ModelVersion, name=params.get("model", ""))
        numbers = serializers.DictField(
            child=serializers.IntegerField(min_value=1)
        ).to_internal_value(
            {k: params.get(k, d) for k, d in (("batch_size", 8), ("seq_len", 1024), ("lora_r", 16))}
        )
        return Response(memory_estimate(model, method=params.get("method", "dpo"), **numbers))
