"""Admin for the core domain. Votes and assignments are read-only: editing them would corrupt the
history a support rate is computed from (a correction is a new, superseding vote)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from evalhub.admin_base import ReadOnlyAdmin
from evalhub.models import (
    Assignment,
    AuditEvent,
    Campaign,
    Comparison,
    IdempotencyRecord,
    Job,
    Label,
    ModelVersion,
    Output,
    Prompt,
    Vote,
)
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.campaigns import campaign_close, campaign_open
from evalhub.services.errors import ServiceError
from evalhub.services.jobs import job_cancel, job_retry


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "method", "backend", "served_name", "created_at"]
    list_filter = ["method", "backend"]
    search_fields = ["name", "served_name", "path"]
    raw_id_fields = ["parent"]

    # Every change made here lands in the audit trail, in the same transaction.
    def save_model(self, request: HttpRequest, obj: ModelVersion, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = _stored_snapshot(obj) if change else {}
            super().save_model(request, obj, form, change)
            action = "modelversion.change" if change else "modelversion.create"
            audit_record(action=action, obj=obj, before=before, after=audit_snapshot(obj))

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        with transaction.atomic():
            _audit_delete(obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        with transaction.atomic():
            for obj in queryset:
                _audit_delete(obj)
            super().delete_queryset(request, queryset)


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "parent"]
    search_fields = ["name"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "external_id", "short_instruction", "split", "source", "created_at"]
    list_filter = ["split", "labels"]
    search_fields = ["external_id", "instruction", "content_hash"]
    filter_horizontal = ["labels"]
    readonly_fields = ["content_hash"]

    @admin.display(description="instruction")
    def short_instruction(self, obj: Prompt) -> str:
        return obj.instruction[:80]


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "model_version", "sample_index", "origin", "created_at"]
    list_filter = ["origin", "model_version"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["params_hash"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "baseline",
        "candidate",
        "status",
        "votes_per_prompt",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["name"]
    filter_horizontal = ["raters"]
    raw_id_fields = ["prompts"]
    readonly_fields = ["status", "created_at", "opened_at", "closed_at", "created_by"]
    actions = ["open_campaigns", "close_campaigns"]

    # Edits made here land in the audit trail: the fields in save_model, the rater pool and
    # the prompt count in save_related (many-to-many fields are saved after the row).
    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = _stored_snapshot(obj) if change else {}
            form._audit_before_m2m = _campaign_members(obj) if change else {}
            super().save_model(request, obj, form, change)
            action = "campaign.change" if change else "campaign.create"
            audit_record(action=action, obj=obj, before=before, after=audit_snapshot(obj))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            before, after = getattr(form, "_audit_before_m2m", {}), _campaign_members(form.instance)
            if change and before != after:
                audit_record(
                    action="campaign.change", obj=form.instance, before=before, after=after
                )

    @admin.action(description="Open (build comparisons)")
    def open_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                result = campaign_open(campaign=campaign)
            except ServiceError as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{campaign}: {result.comparisons_created} comparisons created, "
                f"{len(result.missing)} prompts missing an output.",
            )

    @admin.action(description="Close")
    def close_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            try:
                campaign_close(campaign=campaign)
            except ServiceError as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.ERROR)


@admin.register(Comparison)
class ComparisonAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "campaign", "prompt", "vote_count", "load", "is_gold"]
    list_filter = ["campaign", "is_gold"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "comparison",
        "rater",
        "candidate_side",
        "status",
        "served_at",
        "expires_at",
    ]
    list_filter = ["status", "candidate_side"]
    exclude = ["token"]


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ["id", "campaign", "rater", "judge", "kind", "choice", "outcome", "created_at"]
    list_filter = ["campaign", "kind", "outcome", "channel", "is_simulated"]
    search_fields = ["reason", "judge"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["scope", "key", "user", "status_code", "created_at"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Jobs change only through their services (cancel / retry), never by editing fields."""

    list_display = [
        "id",
        "kind",
        "title",
        "state",
        "progress_done",
        "progress_total",
        "attempts",
        "created_at",
    ]
    list_filter = ["state", "kind"]
    search_fields = ["title", "error"]
    actions = ["cancel_jobs", "retry_jobs"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("evalhub.change_job"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Job._meta.fields]

    @admin.action(description="Cancel")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                job_cancel(job=job)
            except ServiceError as exc:
                self.message_user(request, f"job {job.pk}: {exc}", messages.ERROR)

    @admin.action(description="Retry (resumes)")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                job_retry(job=job)
            except ServiceError as exc:
                self.message_user(request, f"job {job.pk}: {exc}", messages.ERROR)


def _stored_snapshot(obj: Any) -> dict[str, Any]:
    """The row as it is in the database before this save (the form already changed ``obj``)."""
    stored = type(obj).objects.filter(pk=obj.pk).first()
    return audit_snapshot(stored) if stored is not None else {}


def _audit_delete(obj: Any) -> None:
    action = f"{obj._meta.model_name}.delete"
    audit_record(action=action, obj=obj, before=audit_snapshot(obj), after={})


def _campaign_members(campaign: Campaign) -> dict[str, Any]:
    if campaign.pk is None:
        return {}
    raters = sorted(campaign.raters.values_list("username", flat=True))
    return {"raters": raters, "n_prompts": campaign.prompts.count()}


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail: read-only for everyone, the superuser included."""

    list_display = ["created_at", "actor_name", "via", "action", "object_type", "object_id"]
    list_filter = ["via", "action", "object_type"]
    search_fields = ["actor_name", "object_id", "object_repr", "note"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AuditEvent._meta.fields]


from evalhub import (  # noqa: E402
    admin_data,  # noqa: F401  (sources and taxonomy history)
    admin_quality,  # noqa: F401  (gold actions, exclusions)
)
