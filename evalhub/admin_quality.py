"""Admin for rater quality: gold actions on comparisons, "exclude flagged raters" on campaigns, and
the exclusions themselves (read-only history; "Include again" goes through the audited service).

Comparison and Campaign keep their admin classes from ``evalhub.admin``; this module registers
subclasses that add the quality actions, so the two stay in one place each.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from evalhub.models import Campaign, Comparison, RaterExclusion
from evalhub.models.campaigns import Outcome
from evalhub.roles import has_perm_cached
from evalhub.services.errors import ServiceError
from evalhub.services.quality import (
    comparison_mark_gold,
    comparison_unmark_gold,
    rater_include,
    raters_exclude_flagged,
)

MANAGE = "evalhub.manage_campaign"


class _ManageActions:
    def has_manage_permission(self, request: HttpRequest) -> bool:
        return has_perm_cached(request.user, MANAGE)


def _mark(outcome: str) -> Any:
    @admin.action(description=f"Mark as gold: {Outcome(outcome).label}", permissions=["manage"])
    def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Comparison]) -> None:
        done = 0
        for comparison in queryset.select_related("campaign"):
            try:
                comparison_mark_gold(comparison=comparison, outcome=outcome, actor=request.user)
                done += 1
            except ServiceError as exc:
                modeladmin.message_user(request, f"{comparison}: {exc}", messages.ERROR)
        modeladmin.message_user(request, f"{done} comparisons marked as gold ({outcome}).")

    action.__name__ = f"mark_gold_{outcome}"
    return action


BaseComparisonAdmin = type(admin.site._registry[Comparison])
BaseCampaignAdmin = type(admin.site._registry[Campaign])
admin.site.unregister(Comparison)
admin.site.unregister(Campaign)


@admin.register(Comparison)
class ComparisonQualityAdmin(_ManageActions, BaseComparisonAdmin):  # type: ignore[misc, valid-type]
    list_display = ["public_id", "campaign", "prompt", "vote_count", "load", "gold_kind"]
    list_filter = ["campaign", "is_gold", "gold_kind"]
    actions = [*(_mark(o) for o in Outcome.values), "unmark_gold"]

    @admin.action(
        description="Unmark gold (count toward the support rate again)", permissions=["manage"]
    )
    def unmark_gold(self, request: HttpRequest, queryset: QuerySet[Comparison]) -> None:
        for comparison in queryset:
            try:
                comparison_unmark_gold(comparison=comparison, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, f"{comparison}: {exc}", messages.ERROR)


@admin.register(Campaign)
class CampaignQualityAdmin(_ManageActions, BaseCampaignAdmin):  # type: ignore[misc, valid-type]
    actions = [*BaseCampaignAdmin.actions, "exclude_flagged_raters"]

    @admin.action(description="Exclude flagged raters from the reports", permissions=["manage"])
    def exclude_flagged_raters(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset:
            excluded = raters_exclude_flagged(campaign=campaign, actor=request.user)
            self.message_user(request, f"{campaign}: {len(excluded)} flagged raters excluded.")


@admin.register(RaterExclusion)
class RaterExclusionAdmin(_ManageActions, admin.ModelAdmin):
    """History of decisions: nothing is edited here; "Include again" deletes through the service
    (audited) and the rater's votes count again."""

    list_display = [
        "campaign",
        "rater",
        "gold_accuracy",
        "gold_answers",
        "excluded_by",
        "created_at",
    ]
    list_filter = ["campaign"]
    search_fields = ["rater__username", "reason"]
    actions = ["include_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Include again (votes count in the reports)", permissions=["manage"])
    def include_again(self, request: HttpRequest, queryset: QuerySet[RaterExclusion]) -> None:
        for exclusion in queryset.select_related("campaign", "rater"):
            rater_include(campaign=exclusion.campaign, rater=exclusion.rater, actor=request.user)
        self.message_user(request, "The raters' votes count again.")
