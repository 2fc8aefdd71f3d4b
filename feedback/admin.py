"""Admin for feedback records. They are history a figure is computed from: read-only, except
that conversations can be looked up and their queue status seen."""

from __future__ import annotations

from django.contrib import admin

from evalhub.admin_base import ReadOnlyAdmin
from feedback.models import (
    ChoiceOption,
    ChoiceTask,
    Conversation,
    Thumb,
    WorkbenchSuggestion,
    WorkbenchTurn,
)


@admin.register(Thumb)
class ThumbAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "campaign",
        "value",
        "output",
        "channel",
        "product_user_id",
        "is_current",
        "created_at",
    ]
    list_filter = ["value", "is_current", "channel", "campaign"]
    search_fields = ["trace_id", "product_user_id", "comment"]
    raw_id_fields = ["output", "campaign", "sent_by"]


class ChoiceOptionInline(admin.TabularInline):
    model = ChoiceOption
    fields = ["position", "source", "output"]
    readonly_fields = fields
    raw_id_fields = ["output"]
    extra = 0
    can_delete = False


@admin.register(ChoiceTask)
class ChoiceTaskAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "campaign",
        "status",
        "rater",
        "channel",
        "none_usable",
        "counts_toward_support_rate",
        "shown_at",
    ]
    list_filter = ["status", "counts_toward_support_rate", "campaign"]
    raw_id_fields = ["prompt", "rater", "created_by", "picked", "vote", "campaign"]
    inlines = [ChoiceOptionInline]


class SuggestionInline(admin.TabularInline):
    model = WorkbenchSuggestion
    fields = ["slot", "source", "output"]
    readonly_fields = fields
    raw_id_fields = ["output"]
    extra = 0
    can_delete = False


@admin.register(WorkbenchTurn)
class WorkbenchTurnAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "conversation",
        "agent",
        "status",
        "layout",
        "picked_slot",
        "picked_source",
        "none_usable",
        "edit_distance",
        "time_to_pick_ms",
    ]
    list_filter = ["status", "picked_source", "none_usable"]
    raw_id_fields = ["conversation", "agent", "vote"]
    inlines = [SuggestionInline]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "campaign",
        "external_id",
        "channel",
        "subject",
        "status",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "campaign", "origin"]
    search_fields = ["external_id", "subject", "public_id"]
    raw_id_fields = ["campaign", "prompt", "created_by", "sent_by"]
