"""Admin: read-only views of pairs, dataset versions and runs (they change through services)."""

from __future__ import annotations

from django.contrib import admin

from evalhub.admin_base import ReadOnlyAdmin
from training.models import (
    CompletionExample,
    DatasetVersion,
    PairBuild,
    PreferencePair,
    TrainingRun,
)


@admin.register(PreferencePair)
class PreferencePairAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "campaign", "prompt", "strength", "n_signals", "is_active"]
    list_filter = ["source", "is_active"]
    search_fields = ["chosen_text", "rejected_text", "source_key", "content_hash"]
    list_select_related = ["campaign", "prompt"]
    raw_id_fields = ["prompt", "chosen_output", "rejected_output", "campaign", "last_build"]


@admin.register(CompletionExample)
class CompletionExampleAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "source", "campaign", "label", "strength", "is_active"]
    list_filter = ["kind", "source", "is_active"]
    raw_id_fields = ["prompt", "output", "campaign", "last_build"]


@admin.register(PairBuild)
class PairBuildAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "sources", "seconds", "created_by"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["name", "created_at", "seed", "created_by"]
    search_fields = ["name"]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["name", "method", "dataset", "start_model", "status", "produced_model"]
    list_filter = ["method"]
    list_select_related = ["dataset", "start_model", "produced_model", "job"]
    search_fields = ["name"]
    raw_id_fields = ["dataset", "start_model", "base_model", "compare_against", "job",
                     "produced_model", "follow_up_campaign", "resumed_from"]  # fmt: skip
