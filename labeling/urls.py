"""/labeling/ pages."""

from django.urls import path

from labeling import views, views_manage

urlpatterns = [
    path("", views.home, name="labeling-home"),
    path("tasks/<int:pk>/", views.label, name="labeling-label"),
    path("review/", views.review, name="labeling-review"),
    path("spotcheck/<int:pk>/", views.spotcheck, name="labeling-spotcheck"),
    path("manage/", views_manage.task_list, name="labeling-manage"),
    path("manage/tasks/<int:pk>/", views_manage.task_detail, name="labeling-manage-task"),
    path(
        "manage/tasks/<int:pk>/<slug:action>/",
        views_manage.task_action,
        name="labeling-manage-action",
    ),
]
