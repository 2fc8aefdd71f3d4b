"""Campaign, model-version and prompt management API (roles pm and admin)."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.permissions import HasPerm
from evalhub.models import Campaign, ModelVersion, Prompt
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.campaigns import campaign_close, campaign_create, campaign_open

MANAGE = HasPerm.of("evalhub.manage_campaign")


class ModelNameField(serializers.SlugRelatedField):
    """A model version by its name. Text the database cannot compare (a NUL character, which
    PostgreSQL refuses) is a 400 like any unknown name, not a database error."""

    def to_internal_value(self, data: object) -> object:
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)


class ModelVersionSerializer(serializers.ModelSerializer):
    parent = ModelNameField(
        slug_field="name", queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id", "name", "parent", "backend", "endpoint", "served_name", "path", "method",
            "temperature", "top_p", "max_tokens", "seed", "description", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]
        # The ranges the database's check constraint enforces, as 400s (not a 500 from the
        # constraint), and a token budget that fits every backend's integer column.
        extra_kwargs = {
            "temperature": {"min_value": 0.0},
            "top_p": {"min_value": 0.0, "max_value": 1.0},
            "max_tokens": {"min_value": 1, "max_value": 2_147_483_647},
        }

    def validate_top_p(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError("top_p must be greater than 0 (and at most 1).")
        return value

    def validate(self, attrs: dict) -> dict:
        instance = ModelVersion(**{k: v for k, v in attrs.items()})
        instance.clean()
        return attrs


class PromptSerializer(serializers.ModelSerializer):
    labels = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Prompt
        fields = [
            "id", "external_id", "instruction", "input", "system", "history", "reference",
            "labels", "source", "split", "content_hash", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class CampaignSerializer(serializers.ModelSerializer):
    baseline = ModelNameField(slug_field="name", queryset=ModelVersion.objects.all())
    candidate = ModelNameField(slug_field="name", queryset=ModelVersion.objects.all())
    prompt_external_ids = serializers.ListField(
        child=serializers.CharField(), write_only=True, required=False,
        help_text="Prompts by external id; omit to take every prompt with both outputs later.",
    )  # fmt: skip
    n_prompts = serializers.SerializerMethodField()
    n_comparisons = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "rater_title", "kind", "baseline", "candidate", "votes_per_prompt",
            "tie_policy", "guidelines", "status", "created_at", "opened_at", "closed_at",
            "prompt_external_ids", "n_prompts", "n_comparisons",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "created_at", "opened_at", "closed_at"]

    def get_n_prompts(self, obj: Campaign) -> int:
        return obj.prompts.count()

    def get_n_comparisons(self, obj: Campaign) -> int:
        return obj.comparisons.count()


class OpenResultSerializer(serializers.Serializer):
    campaign = CampaignSerializer()
    comparisons_created = serializers.IntegerField()
    comparisons_total = serializers.IntegerField()
    missing = serializers.ListField(child=serializers.DictField())


class ModelVersionListCreate(generics.ListCreateAPIView):
    permission_classes = [MANAGE]
    serializer_class = ModelVersionSerializer
    queryset = ModelVersion.objects.select_related("parent").order_by("name")

    def perform_create(self, serializer: ModelVersionSerializer) -> None:
        with transaction.atomic():
            model = serializer.save()
            audit_record(action="modelversion.create", obj=model, after=audit_snapshot(model))


class PromptList(generics.ListAPIView):
    permission_classes = [MANAGE]
    serializer_class = PromptSerializer
    queryset = Prompt.objects.prefetch_related("labels").order_by("id")


class CampaignListCreate(generics.ListCreateAPIView):
    permission_classes = [MANAGE]
    serializer_class = CampaignSerializer
    queryset = Campaign.objects.select_related("baseline", "candidate").order_by("-id")

    def perform_create(self, serializer: CampaignSerializer) -> None:
        data = dict(serializer.validated_data)
        external_ids = data.pop("prompt_external_ids", None)
        prompts = None
        if external_ids is not None:
            prompts = list(Prompt.objects.filter(external_id__in=external_ids))
            unknown = sorted(set(external_ids) - {p.external_id for p in prompts})
            if unknown:
                raise serializers.ValidationError(
                    {"prompt_external_ids": f"unknown: {unknown[:20]}"}
                )
        serializer.instance = campaign_create(prompts=prompts, created_by=self.request.user, **data)


class CampaignDetail(generics.RetrieveAPIView):
    permission_classes = [MANAGE]
    serializer_class = CampaignSerializer
    queryset = Campaign.objects.select_related("baseline", "candidate")


class CampaignOpen(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        operation_id="campaign_open", request=None, responses={200: OpenResultSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        result = campaign_open(campaign=get_object_or_404(Campaign, pk=pk))
        payload = {
            "campaign": result.campaign,
            "comparisons_created": result.comparisons_created,
            "comparisons_total": result.comparisons_total,
            "missing": [
                {"prompt_id": m.prompt_id, "external_id": m.external_id, "missing": list(m.missing)}
                for m in result.missing
            ],
        }
        return Response(OpenResultSerializer(payload).data, status=status.HTTP_200_OK)


class CampaignClose(APIView):
    permission_classes = [MANAGE]

    @extend_schema(operation_id="campaign_close", request=None, responses={200: CampaignSerializer})
    def post(self, request: Request, pk: int) -> Response:
        campaign = campaign_close(campaign=get_object_or_404(Campaign, pk=pk))
        return Response(CampaignSerializer(campaign).data)
