"""/api/v1/data/ routes: per-source figures and per-label results (mounted by evalhub.api.urls)."""

from django.urls import path

from training import data_api

urlpatterns = [
    path("sources", data_api.SourceFiguresView.as_view(), name="api-data-sources"),
    path("labels", data_api.LabelResultsView.as_view(), name="api-data-labels"),
]
