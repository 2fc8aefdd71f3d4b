"""Admin pages of the labeling app: read-only (tasks, answers, reviews and samples change
through the labeling services, so the history stays true)."""

from __future__ import annotations

from django.contrib import admin

from evalhub.admin_base import ReadOnlyAdmin
from labeling.models import (
    Annotation,
    LabelerExclusion,
    LabelingTask,
    Review,
    SpotCheckBatch,
    TaskItem,
)


@admin.register(LabelingTask)
class LabelingTaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "item_kind", "question_kind", "audience", "layer", "k", "status"]
    list_filter = ["status", "question_kind", "audience", "layer"]
    search_fields = ["name"]


@admin.register(TaskItem)
class TaskItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "position", "prompt", "output", "pair", "is_gold", "state"]
    list_filter = ["is_gold", "state"]
    list_select_related = ["task", "prompt", "output", "pair"]
    raw_id_fields = ["task", "prompt", "output", "output_b", "pair", "source_item"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "labeler", "is_ai", "ai_model", "status", "created_at"]
    list_filter = ["status", "is_ai", "is_gold_check"]
    list_select_related = ["item", "labeler", "ai_model"]
    raw_id_fields = ["item", "labeler", "ai_model", "created_by"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "annotation", "reviewer", "kind", "verdict", "batch", "created_at"]
    list_filter = ["kind", "verdict"]
    list_select_related = ["annotation", "reviewer", "batch"]


@admin.register(SpotCheckBatch)
class SpotCheckBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "rate", "seed", "population", "created_by", "created_at"]
    list_select_related = ["task", "created_by"]


@admin.register(LabelerExclusion)
class LabelerExclusionAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "labeler", "reason", "gold_accuracy", "created_at"]
    list_select_related = ["task", "labeler"]
