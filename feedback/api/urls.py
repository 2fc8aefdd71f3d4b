"""feedback's API routes; evalhub/api/urls.py includes them under /api/v1/."""

from django.urls import path

from feedback.api import choices, reports, thumbs, workbench
from feedback.api.common import with_cors

urlpatterns = [
    path(
        "feedback/thumbs",
        with_cors(thumbs.ThumbCreateView.as_view()),
        name="api-feedback-thumbs",
    ),
    path(
        "feedback/campaigns/<int:id>/report",
        reports.FeedbackReportView.as_view(),
        name="api-feedback-report",
    ),
    path("choices", choices.ChoiceCreateView.as_view(), name="api-choices"),
    path("choices/<str:token>", choices.ChoiceDetailView.as_view(), name="api-choice"),
    path("choices/<str:token>/pick", choices.ChoicePickView.as_view(), name="api-choice-pick"),
    path(
        "workbench/conversations",
        workbench.ConversationListCreateView.as_view(),
        name="api-workbench-conversations",
    ),
    path(
        "workbench/conversations/<str:public_id>",
        workbench.ConversationDetailView.as_view(),
        name="api-workbench-conversation",
    ),
    path(
        "workbench/conversations/<str:public_id>/reply",
        workbench.ConversationReplyView.as_view(),
        name="api-workbench-reply",
    ),
]
