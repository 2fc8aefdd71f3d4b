"""/dashboard/ pages (roles pm and admin)."""

from django.urls import path

from evalhub.views import dashboard, quality

urlpatterns = [
    path("", dashboard.campaign_list, name="dashboard"),
    path("<int:pk>/", dashboard.campaign_detail, name="dashboard-campaign"),
    path("<int:pk>/quality/", quality.campaign_quality, name="dashboard-quality"),
    path("<int:pk>/quality/exclude", quality.quality_exclude, name="dashboard-quality-exclude"),
    path("<int:pk>/quality/include", quality.quality_include, name="dashboard-quality-include"),
    path(
        "<int:pk>/quality/exclude-flagged",
        quality.quality_exclude_flagged,
        name="dashboard-quality-exclude-flagged",
    ),
]
