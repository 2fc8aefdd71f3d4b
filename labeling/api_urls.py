"""labeling endpoints under /api/v1/."""

from django.urls import path

from labeling import api

urlpatterns = [
    path("labeling/tasks", api.TaskListCreate.as_view(), name="api-labeling-tasks"),
    path("labeling/tasks/<int:pk>", api.TaskDetail.as_view(), name="api-labeling-task"),
    path(
        "labeling/tasks/<int:pk>/items", api.TaskItemsAdd.as_view(), name="api-labeling-task-items"
    ),
    path(
        "labeling/tasks/<int:pk>/open",
        api.TaskAction.as_view(action="open"),
        name="api-labeling-task-open",
    ),
    path(
        "labeling/tasks/<int:pk>/close",
        api.TaskAction.as_view(action="close"),
        name="api-labeling-task-close",
    ),
    path(
        "labeling/tasks/<int:pk>/apply",
        api.TaskAction.as_view(action="apply"),
        name="api-labeling-task-apply",
    ),
    path(
        "labeling/tasks/<int:pk>/next-layer",
        api.TaskAction.as_view(action="next-layer"),
        name="api-labeling-task-next-layer",
    ),
    path(
        "labeling/tasks/<int:pk>/spotchecks",
        api.SpotCheckCreate.as_view(),
        name="api-labeling-spotcheck-create",
    ),
    path("labeling/tasks/<int:pk>/next", api.NextItem.as_view(), name="api-labeling-next"),
    path("labeling/my-tasks", api.MyTasks.as_view(), name="api-labeling-my-tasks"),
    path("labeling/items/<int:pk>/skip", api.ItemSkip.as_view(), name="api-labeling-skip"),
    path("labeling/annotations", api.AnnotationCreate.as_view(), name="api-labeling-annotations"),
    path("labeling/reviews/queue", api.ReviewQueue.as_view(), name="api-labeling-review-queue"),
    path("labeling/reviews", api.ReviewCreate.as_view(), name="api-labeling-reviews"),
    path(
        "labeling/spotchecks/<int:pk>", api.SpotCheckDetail.as_view(), name="api-labeling-spotcheck"
    ),
]
