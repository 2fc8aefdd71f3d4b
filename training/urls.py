"""/training/ pages (included by evalhub/urls.py)."""

from django.urls import path

from training import views

urlpatterns = [
    path("", views.overview, name="training"),
    path("pairs/build", views.pairs_build, name="training-pairs-build"),
    path("datasets/freeze", views.dataset_freeze, name="training-dataset-freeze"),
    path("datasets/<int:pk>/", views.dataset_detail, name="training-dataset"),
    path(
        "datasets/<int:pk>/download/<str:fmt>/<str:split>",
        views.dataset_download,
        name="training-dataset-download",
    ),
    path("runs/new", views.run_new, name="training-run-new"),
    path("runs/<int:pk>/", views.run_detail, name="training-run"),
    path("runs/<int:pk>/live", views.run_live, name="training-run-live"),
    path("runs/<int:pk>/cancel", views.run_cancel, name="training-run-cancel"),
    path("runs/<int:pk>/resume", views.run_resume, name="training-run-resume"),
    path("memory", views.memory, name="training-memory"),
    path("models/<int:pk>/", views.model_lineage, name="training-model"),
]
