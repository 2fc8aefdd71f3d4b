"""assist endpoints under /api/v1/assist/."""

from django.urls import path

from assist import api

urlpatterns = [
    path("assist/judge-runs", api.JudgeRunListCreate.as_view(), name="api-assist-judge-runs"),
    path("assist/judge-runs/<int:pk>", api.JudgeRunDetail.as_view(), name="api-assist-judge-run"),
    path(
        "assist/judge-runs/<int:pk>/verdicts",
        api.JudgeRunVerdicts.as_view(),
        name="api-assist-judge-verdicts",
    ),
    path(
        "assist/judge-runs/<int:pk>/approve",
        api.JudgeRunApprove.as_view(),
        name="api-assist-judge-approve",
    ),
    path(
        "assist/judge-runs/<int:pk>/measure",
        api.JudgeRunMeasure.as_view(),
        name="api-assist-judge-measure",
    ),
    path(
        "assist/judge-runs/<int:pk>/publish-pairs",
        api.JudgeRunPublishPairs.as_view(),
        name="api-assist-judge-publish",
    ),
    path("assist/prelabel-runs", api.PrelabelRunCreate.as_view(), name="api-assist-prelabel"),
    path(
        "assist/augmentations",
        api.AugmentationListCreate.as_view(),
        name="api-assist-augmentations",
    ),
    path(
        "assist/augmentations/<int:pk>",
        api.AugmentationDetail.as_view(),
        name="api-assist-augmentation",
    ),
    path(
        "assist/augmentations/<int:pk>/records",
        api.AugmentationRecords.as_view(),
        name="api-assist-augmentation-records",
    ),
]
