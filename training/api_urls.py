"""/api/v1/training/ routes (included by evalhub/api/urls.py)."""

from django.urls import path

from training import api

urlpatterns = [
    path("pairs", api.PairList.as_view(), name="api-training-pairs"),
    path("pairs/build", api.PairsBuild.as_view(), name="api-training-pairs-build"),
    path("datasets", api.DatasetListFreeze.as_view(), name="api-training-datasets"),
    path("datasets/<int:pk>", api.DatasetDetail.as_view(), name="api-training-dataset"),
    path(
        "datasets/<int:pk>/exports/<str:fmt>/<str:split>",
        api.DatasetExport.as_view(),
        name="api-training-export",
    ),
    path("runs", api.RunListStart.as_view(), name="api-training-runs"),
    path("runs/<int:pk>", api.RunDetail.as_view(), name="api-training-run"),
    path("runs/<int:pk>/cancel", api.RunCancel.as_view(), name="api-training-run-cancel"),
    path("runs/<int:pk>/resume", api.RunResume.as_view(), name="api-training-run-resume"),
    path("models/<str:name>/lineage", api.ModelLineage.as_view(), name="api-training-lineage"),
    path("memory-estimate", api.MemoryEstimate.as_view(), name="api-training-memory"),
]
