"""assist API under /api/v1/assist/: judge runs (start, read, measure, approve, publish pairs,
verdicts) and augmentation runs (start, read). Everything needs ``evalhub.manage_data`` (pm,
admin). Starting a run answers 202 with the run and its job (follow it at ``/api/v1/jobs/{id}``);
starts accept an ``Idempotency-Key``, so a retried POST never queues a second run.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assist.models import AugmentationRecord, AugmentationRun, JudgeRun, JudgeVerdict
from assist.selectors.augment import augmentation_runs_list, prompts_for_augmentation
from assist.selectors.judge import judge_runs_list
from assist.services.augment import augmentation_run_create
from assist.services.judge import (
    judge_pairs_publish,
    judge_run_approve,
    judge_run_create,
    judge_run_measure,
)
from assist.services.prelabel import prelabel_run_create
from evalhub.api.campaigns import ModelNameField
from evalhub.api.idempotency import idempotent
from evalhub.api.permissions import HasPerm
from evalhub.models import Campaign, ModelVersion
from labeling.models import LabelingTask

MANAGE = HasPerm.of("evalhub.manage_data")
IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)


STATUS_HELP = "queued, running, succeeded, failed or cancelled (the job has the details)"


class JudgeRunSerializer(serializers.ModelSerializer):
    judge = serializers.SlugRelatedField(slug_field="name", read_only=True)
    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_ai = serializers.SerializerMethodField(help_text="Always true: these are AI labels.")

    class Meta:
        model = JudgeRun
        fields = [
            "id", "kind", "judge", "campaign", "both_orders", "limit", "min_agreement_n",
            "quality_threshold", "status", "job", "counts", "agreement", "agreement_measured_at",
            "approved_by", "approved_at", "approval_note", "created_at", "finished_at", "is_ai",
            "template", "labeling_task", "authorised_by",
        ]  # fmt: skip
        read_only_fields = fields

    def get_is_ai(self, run: JudgeRun) -> bool:
        return True


class JudgeRunCreateSerializer(serializers.Serializer):
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all())
    judge = ModelNameField(slug_field="name", queryset=ModelVersion.objects.all())
    kind = serializers.ChoiceField(JudgeRun.Kind.values, default=JudgeRun.Kind.PAIRS)
    both_orders = serializers.BooleanField(default=True)
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    template = serializers.CharField(required=False, allow_blank=True, default="")
    min_agreement_n = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    quality_threshold = serializers.IntegerField(min_value=1, max_value=5, default=3)


class PrelabelCreateSerializer(serializers.Serializer):
    task = serializers.PrimaryKeyRelatedField(queryset=LabelingTask.objects.all())
    approved_run = serializers.PrimaryKeyRelatedField(
        queryset=JudgeRun.objects.all(), help_text="An approved pairs run; its judge pre-labels."
    )
    both_orders = serializers.BooleanField(default=True)
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class ApproveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class VerdictSerializer(serializers.ModelSerializer):
    verdict_ab = serializers.CharField(
        read_only=True, help_text='First order: "A", "B", "tie", "invalid" (unreadable).'
    )
    verdict_ba = serializers.CharField(
        read_only=True, help_text='Second order (answers swapped); "" when asked once.'
    )

    class Meta:
        model = JudgeVerdict
        fields = [
            "id", "comparison", "output", "candidate_slot", "verdict_ab", "verdict_ba", "outcome",
            "score", "raw_ab", "raw_ba", "latency_ms_ab", "latency_ms_ba", "error",
        ]  # fmt: skip
        read_only_fields = fields


class AugmentationRunSerializer(serializers.ModelSerializer):
    model_version = serializers.SlugRelatedField(slug_field="name", read_only=True)
    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)

    class Meta:
        model = AugmentationRun
        fields = [
            "id", "method", "model_version", "prompt_filter", "per_prompt", "pivot_language",
            "near_duplicate_threshold", "seed", "status", "job", "counts", "created_at",
            "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class AugmentationRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = AugmentationRecord
        fields = [
            "id", "source_prompt", "sample_index", "text", "pivot_text", "status", "new_prompt",
            "duplicate_of", "duplicate_kind", "similarity", "error",
        ]  # fmt: skip
        read_only_fields = fields


class AugmentationCreateSerializer(serializers.Serializer):
    model = ModelNameField(slug_field="name", queryset=ModelVersion.objects.all())
    method = serializers.ChoiceField(AugmentationRun.Method.values)
    prompt_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    label = serializers.CharField(required=False, allow_blank=True, default="")
    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True
    )
    source = serializers.CharField(required=False, allow_blank=True, default="")
    per_prompt = serializers.IntegerField(min_value=1, max_value=10, default=1)
    pivot_language = serializers.CharField(required=False, default="French")
    near_duplicate_threshold = serializers.FloatField(default=0.8)
    seed = serializers.IntegerField(default=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs.get("prompt_ids") or attrs.get("label") or attrs.get("campaign")
                or attrs.get("source")):  # fmt: skip
            raise serializers.ValidationError(
                "Choose the prompts: prompt_ids, label, campaign or source."
            )
        return attrs


class JudgeRunListCreate(generics.ListAPIView):
    permission_classes = [MANAGE]
    serializer_class = JudgeRunSerializer

    def get_queryset(self) -> Any:
        campaign = self.request.query_params.get("campaign", "")
        runs = judge_runs_list()
        return runs.filter(campaign_id=int(campaign)) if campaign.isdigit() else runs

    @extend_schema(parameters=[OpenApiParameter("campaign", int)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=JudgeRunCreateSerializer,
        responses={202: JudgeRunSerializer},
        parameters=[IDEMPOTENCY],
        description="Queue an AI judge run over a campaign's comparisons (pairs: both orders) "
        "or outputs (quality: 1-5 rubric).",
    )
    def post(self, request: Request) -> Response:
        body = JudgeRunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        def write() -> Response:
            run = judge_run_create(**body.validated_data, created_by=request.user)
            return Response(JudgeRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, "assist-judge-runs", write)


class PrelabelRunCreate(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        request=PrelabelCreateSerializer,
        responses={202: JudgeRunSerializer},
        parameters=[IDEMPOTENCY],
        description="Queue AI pre-labels for a labeling task (preference, score or labels), "
        "stored as is_ai annotations. 409 not_approved unless approved_run is an approved "
        "pairs run (the judge's agreement with people was measured and accepted).",
    )
    def post(self, request: Request) -> Response:
        body = PrelabelCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        def write() -> Response:
            run = prelabel_run_create(**body.validated_data, created_by=request.user)
            return Response(JudgeRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, "assist-prelabel-runs", write)


class JudgeRunDetail(generics.RetrieveAPIView):
    permission_classes = [MANAGE]
    serializer_class = JudgeRunSerializer
    queryset = judge_runs_list()


class JudgeRunVerdicts(generics.ListAPIView):
    permission_classes = [MANAGE]
    serializer_class = VerdictSerializer

    def get_queryset(self) -> Any:
        run = get_object_or_404(JudgeRun, pk=self.kwargs["pk"])
        return run.verdicts.order_by("id")


class JudgeRunApprove(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        request=ApproveSerializer,
        responses={200: JudgeRunSerializer},
        description="Accept the run's labels for use. 409 agreement_not_measured until the "
        "agreement with human votes rests on at least min_agreement_n comparisons.",
    )
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(JudgeRun, pk=pk)
        body = ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = judge_run_approve(run=run, user=request.user, note=body.validated_data["note"])
        return Response(JudgeRunSerializer(run).data)


class JudgeRunMeasure(APIView):
    permission_classes = [MANAGE]

    @extend_schema(request=None, responses={200: JudgeRunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        run = judge_run_measure(run=get_object_or_404(JudgeRun, pk=pk))
        return Response(JudgeRunSerializer(run).data)


class PublishResultSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    retired = serializers.IntegerField()
    pairs = serializers.IntegerField()


class JudgeRunPublishPairs(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        request=None,
        responses={200: PublishResultSerializer},
        description="Write an approved run's decisive verdicts as training pairs with source "
        "ai_judge (datasets take them only when that source is named). 409 when not approved.",
    )
    def post(self, request: Request, pk: int) -> Response:
        result = judge_pairs_publish(run=get_object_or_404(JudgeRun, pk=pk))
        return Response(result)


class AugmentationListCreate(generics.ListAPIView):
    permission_classes = [MANAGE]
    serializer_class = AugmentationRunSerializer
    queryset = augmentation_runs_list()

    @extend_schema(
        request=AugmentationCreateSerializer,
        responses={202: AugmentationRunSerializer},
        parameters=[IDEMPOTENCY],
        description="Queue an augmentation run: paraphrase or back-translate the original "
        "prompts matching every filter given (ids, label, campaign, source).",
    )
    def post(self, request: Request) -> Response:
        body = AugmentationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        chosen = {
            "ids": data.get("prompt_ids") or [],
            "label": data["label"],
            "campaign": data["campaign"].pk if data.get("campaign") else None,
            "source": data["source"],
        }
        prompts = prompts_for_augmentation(
            label=data["label"], campaign=data.get("campaign"), source=data["source"],
            ids=chosen["ids"],
        )  # fmt: skip

        def write() -> Response:
            run = augmentation_run_create(
                prompts=prompts,
                method=data["method"],
                model_version=data["model"],
                per_prompt=data["per_prompt"],
                pivot_language=data["pivot_language"],
                near_duplicate_threshold=data["near_duplicate_threshold"],
                seed=data["seed"],
                prompt_filter=chosen,
                created_by=request.user,
            )
            return Response(AugmentationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, "assist-augmentations", write)


class AugmentationDetail(generics.RetrieveAPIView):
    permission_classes = [MANAGE]
    serializer_class = AugmentationRunSerializer
    queryset = augmentation_runs_list()


class AugmentationRecords(generics.ListAPIView):
    permission_classes = [MANAGE]
    serializer_class = AugmentationRecordSerializer

    def get_queryset(self) -> Any:
        run = get_object_or_404(AugmentationRun, pk=self.kwargs["pk"])
        return run.records.order_by("id")
