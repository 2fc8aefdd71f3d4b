"""/data/ pages: the source registry with per-source figures, the label taxonomy, and results
per label (included by evalhub/urls.py; they live in training because the figures read pairs and
dataset versions, which evalhub may not import)."""

from django.urls import path

from training import views_data

urlpatterns = [
    path("", views_data.sources_list, name="data-sources"),
    path("sources/new", views_data.source_new, name="data-source-new"),
    path("sources/<int:pk>/", views_data.source_detail, name="data-source"),
    path("sources/<int:pk>/edit", views_data.source_edit, name="data-source-edit"),
    path("labels/", views_data.taxonomy, name="data-labels"),
    path("labels/new", views_data.label_new, name="data-label-new"),
    path("labels/<int:pk>/rename", views_data.label_rename_view, name="data-label-rename"),
    path("labels/<int:pk>/describe", views_data.label_describe_view, name="data-label-describe"),
    path("labels/<int:pk>/move", views_data.label_move_view, name="data-label-move"),
    path("labels/<int:pk>/merge", views_data.label_merge_view, name="data-label-merge"),
    path("results/", views_data.label_results_page, name="data-results"),
]
