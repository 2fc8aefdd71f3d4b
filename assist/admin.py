"""Admin: read-only views of judge runs, verdicts and augmentation (they change through services:
approval is audited, verdicts are a record of what the model said)."""

from __future__ import annotations

from django.contrib import admin

from assist.models import AugmentationRecord, AugmentationRun, JudgeRun, JudgeVerdict
from evalhub.admin_base import ReadOnlyAdmin


@admin.register(JudgeRun)
class JudgeRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "judge", "campaign", "status", "approved_at", "created_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["judge", "campaign"]
    raw_id_fields = ["judge", "campaign", "job", "approved_by", "created_by"]


@admin.register(JudgeVerdict)
class JudgeVerdictAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "run",
        "comparison",
        "output",
        "verdict_ab",
        "verdict_ba",
        "outcome",
        "score",
    ]
    list_filter = ["outcome", "score"]
    search_fields = ["raw_ab", "raw_ba"]
    raw_id_fields = ["run", "comparison", "output"]


@admin.register(AugmentationRun)
class AugmentationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "method", "model_version", "per_prompt", "status", "created_at"]
    list_filter = ["method", "status"]
    raw_id_fields = ["model_version", "job", "created_by"]


@admin.register(AugmentationRecord)
class AugmentationRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "source_prompt", "sample_index", "status", "similarity"]
    list_filter = ["status"]
    search_fields = ["text"]
    raw_id_fields = ["run", "source_prompt", "new_prompt", "duplicate_of"]
