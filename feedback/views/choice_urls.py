"""/choose/ pages: n-way choices for raters."""

from django.urls import path

from feedback.views import choice

urlpatterns = [
    path("", choice.campaign_list, name="choose"),
    path("<int:campaign_id>/", choice.task_page, name="choose-task"),
    path("<int:campaign_id>/pick", choice.pick, name="choose-pick"),
    path("<int:campaign_id>/skip", choice.skip, name="choose-skip"),
]
