"""/assist/ pages."""

from django.urls import path

from assist import views

urlpatterns = [
    path("", views.overview, name="assist"),
    path("judge-runs/new", views.judge_start, name="assist-judge-start"),
    path("prelabel/new", views.prelabel_start, name="assist-prelabel-start"),
    path("judge-runs/<int:pk>/", views.judge_detail, name="assist-judge-run"),
    path("judge-runs/<int:pk>/approve", views.judge_approve, name="assist-judge-approve"),
    path("judge-runs/<int:pk>/measure", views.judge_measure, name="assist-judge-measure"),
    path("judge-runs/<int:pk>/publish", views.judge_publish, name="assist-judge-publish"),
    path("campaigns/<int:pk>/", views.campaign_ai, name="assist-campaign"),
    path("augmentations/new", views.augment_start, name="assist-augment-start"),
    path("augmentations/<int:pk>/", views.augment_detail, name="assist-augmentation"),
]
