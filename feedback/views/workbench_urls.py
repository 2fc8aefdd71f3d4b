"""/workbench/ pages (role agent)."""

from django.urls import path

from feedback.views import workbench

urlpatterns = [
    path("", workbench.queue, name="workbench"),
    path("next", workbench.next_conversation, name="workbench-next"),
    path("c/<str:public_id>/", workbench.conversation_page, name="workbench-conversation"),
    path("c/<str:public_id>/suggestions", workbench.suggestions, name="workbench-suggestions"),
    path("c/<str:public_id>/send", workbench.send, name="workbench-send"),
]
