"""/feedback/ pages: dashboards for PMs and the thumbs docs."""

from django.urls import path

from feedback.views import dashboards

urlpatterns = [
    path("", dashboards.index, name="feedback"),
    path("thumbs/<int:pk>/", dashboards.thumbs_dashboard, name="feedback-thumbs"),
    path("workbench/<int:pk>/", dashboards.workbench_dashboard, name="feedback-workbench"),
    path("docs/thumbs/", dashboards.thumbs_docs, name="feedback-docs-thumbs"),
]
