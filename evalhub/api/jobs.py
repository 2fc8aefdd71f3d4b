"""Background jobs API (roles pm and admin): list, detail (polled by the job pages), cancel, retry."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.permissions import HasPerm
from evalhub.models import Job
from evalhub.selectors.jobs import job_get, jobs_list
from evalhub.services.jobs import job_cancel, job_retry

MANAGE = HasPerm.of("evalhub.manage_campaign")


class JobSerializer(serializers.ModelSerializer):
    percent = serializers.FloatField(read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    is_finished = serializers.BooleanField(read_only=True)
    campaign_name = serializers.CharField(
        source="campaign.name", read_only=True, default=None, allow_null=True
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Job
        fields = [
            "id", "kind", "title", "state", "is_finished", "progress_done", "progress_total",
            "percent", "message", "error", "cancel_requested", "attempts", "max_attempts",
            "worker", "campaign", "campaign_name", "created_by", "created_at", "started_at",
            "heartbeat_at", "finished_at", "duration_seconds",
        ]  # fmt: skip
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "params", "result", "log"]
        read_only_fields = fields


class JobQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Job.State.values, required=False)
    kind = serializers.CharField(
        max_length=32, required=False, help_text="generate, export, train..."
    )
    campaign = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


class JobList(generics.ListAPIView):
    """Jobs, newest first; filter with ?state=, ?kind=, ?campaign= (a bad filter is a 400)."""

    permission_classes = [MANAGE]
    serializer_class = JobSerializer

    @extend_schema(operation_id="jobs_list", parameters=[JobQuerySerializer])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Job]:
        query = JobQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return jobs_list(
            state=filters.get("state") or None,
            kind=filters.get("kind") or None,
            campaign_id=filters.get("campaign"),
        )


class JobDetail(APIView):
    permission_classes = [MANAGE]

    @extend_schema(operation_id="job_detail", responses={200: JobDetailSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(JobDetailSerializer(job_get(pk)).data)


class JobCancel(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        operation_id="job_cancel",
        request=None,
        responses={200: JobDetailSerializer},
        description="A queued job is cancelled at once, a running one at its next step; "
        "409 when it has already finished.",
    )
    def post(self, request: Request, pk: int) -> Response:
        job_cancel(job=job_get(pk))
        return Response(JobDetailSerializer(job_get(pk)).data)


class JobRetry(APIView):
    permission_classes = [MANAGE]

    @extend_schema(
        operation_id="job_retry",
        request=None,
        responses={200: JobDetailSerializer},
        description="Queue a failed or cancelled job again; it resumes from what was done "
        "(a generation job makes only the outputs still missing). 409 otherwise.",
    )
    def post(self, request: Request, pk: int) -> Response:
        job_retry(job=job_get(pk))
        return Response(JobDetailSerializer(job_get(pk)).data)
