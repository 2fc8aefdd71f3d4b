"""/api/v1/ routes. Each sub-domain keeps its handlers in its own module."""

from django.urls import include, path

from evalhub.api import campaigns, imports, labels, quality, rating, sources
from evalhub.api import generation as generation_api
from evalhub.api import jobs as jobs_api
from evalhub.api.reports import CampaignReportView

urlpatterns = [
    path("campaigns", campaigns.CampaignListCreate.as_view(), name="api-campaigns"),
    path("campaigns/<int:pk>", campaigns.CampaignDetail.as_view(), name="api-campaign"),
    path("campaigns/<int:pk>/open", campaigns.CampaignOpen.as_view(), name="api-campaign-open"),
    path("campaigns/<int:pk>/close", campaigns.CampaignClose.as_view(), name="api-campaign-close"),
    path("campaigns/<int:id>/next", rating.NextAssignmentView.as_view(), name="api-next"),
    path("campaigns/<int:id>/report", CampaignReportView.as_view(), name="api-campaign-report"),
    path("campaigns/<int:id>/quality", quality.CampaignQualityView.as_view(), name="api-quality"),
    path(
        "campaigns/<int:id>/exclusions", quality.ExclusionListView.as_view(), name="api-exclusions"
    ),
    path(
        "campaigns/<int:id>/exclusions/<int:rater_id>",
        quality.ExclusionDetailView.as_view(),
        name="api-exclusion",
    ),
    path("campaigns/<int:id>/gold", quality.GoldItemsView.as_view(), name="api-gold"),
    path(
        "campaigns/<int:id>/attention-checks",
        quality.AttentionChecksView.as_view(),
        name="api-attention-checks",
    ),
    path(
        "campaigns/<int:pk>/generate",
        generation_api.CampaignGenerate.as_view(),
        name="api-campaign-generate",
    ),
    path("jobs", jobs_api.JobList.as_view(), name="api-jobs"),
    path("jobs/<int:pk>", jobs_api.JobDetail.as_view(), name="api-job"),
    path("jobs/<int:pk>/cancel", jobs_api.JobCancel.as_view(), name="api-job-cancel"),
    path("jobs/<int:pk>/retry", jobs_api.JobRetry.as_view(), name="api-job-retry"),
    path("votes", rating.VoteCreateView.as_view(), name="api-votes"),
    path("assignments/skip", rating.SkipView.as_view(), name="api-skip"),
    path("models", campaigns.ModelVersionListCreate.as_view(), name="api-models"),
    path("prompts", campaigns.PromptList.as_view(), name="api-prompts"),
    path("imports/prompts", imports.PromptImportView.as_view(), name="api-import-prompts"),
    path("imports/outputs", imports.OutputImportView.as_view(), name="api-import-outputs"),
    path("imports/battles", imports.BattleImportView.as_view(), name="api-import-battles"),
    path("sources", sources.DataSourceListCreate.as_view(), name="api-sources"),
    path("sources/<int:pk>", sources.DataSourceDetail.as_view(), name="api-source"),
    path(
        "sources/<int:pk>/records", sources.DataSourceRecords.as_view(), name="api-source-records"
    ),
    path("labels", labels.LabelListCreate.as_view(), name="api-labels"),
    path("labels/<int:pk>", labels.LabelDetail.as_view(), name="api-label"),
    path("labels/<int:pk>/merge", labels.LabelMerge.as_view(), name="api-label-merge"),
    path("data/", include("training.data_api_urls")),
    path("training/", include("training.api_urls")),
]
