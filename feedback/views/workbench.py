"""The agent's pages: the queue, one conversation with its 4 suggestions, and sending a reply.

Opening a conversation claims it for the agent and asks both models at once. The page waits a
moment (``FEEDBACK_WORKBENCH_INLINE_WAIT_S``) to show the 4 suggestions in itself; when they take
longer it shows the conversation at once and its script fetches the suggestions in one piece
from ``POST .../suggestions`` (without JavaScript a button does the same and reloads the page). After a reply is sent the next conversation in the
queue opens, so an agent can work through the queue from the keyboard.

Everything an agent sees comes from ``feedback.selectors.workbench`` (blind) and is rendered as
sanitized markdown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

# Loaded with the URLs, so that no agent's first suggestions pay for importing the HTTP client
# (seconds on a busy machine) inside their time limit.
import evalhub.generation.openai_compat  # noqa: F401
from evalhub.services.errors import ServiceError
from feedback import conf
from feedback.models import Conversation, WorkbenchTurn
from feedback.selectors.workbench import (
    conversation_blind_payload,
    conversation_get_for_agent,
    queue_for_agent,
    sent_by_agent,
    turn_blind_payload,
    turn_get_for_agent,
)
from feedback.services.workbench import (
    USE_WORKBENCH,
    workbench_conversation_open,
    workbench_reply_send,
    workbench_suggestions_ensure,
)
from feedback.views.common import error_page, role_required

agent_required = role_required(
    USE_WORKBENCH,
    title="The workbench is for agents",
    message="Your account does not have the agent role. Ask an admin to add it.",
)
QUEUE_HEADINGS = {
    403: "Not your queue",
    404: "No such conversation",
    409: "Not available",
    410: "This conversation moved on",
}
SEND_MESSAGES = {
    "already_sent": "A reply to that conversation was already sent; nothing more was sent.",
    "released": "That conversation left your hands before you sent, so nothing was sent.",
    "unknown_token": "That conversation is not yours any more; nothing was sent.",
}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _service_error_page(request: HttpRequest, error: ServiceError) -> HttpResponse:
    return error_page(
        request,
        status=error.status_code,
        title=QUEUE_HEADINGS.get(error.status_code, "Not available"),
        message=error.message,
        back_url=reverse("workbench"),
        back_label="Back to the queue",
    )


@require_GET
@agent_required
def queue(request: HttpRequest) -> HttpResponse:
    """Conversations waiting for a reply (oldest first) and the agent's recent replies."""
    context = {
        "items": queue_for_agent(agent=request.user),
        "sent": sent_by_agent(agent=request.user, limit=8),
    }
    return render(request, "feedback/workbench_queue.html", context)


@require_GET
@agent_required
def next_conversation(request: HttpRequest) -> HttpResponse:
    """Open the oldest conversation waiting for this agent (their own open one first)."""
    items = queue_for_agent(agent=request.user, limit=50)
    mine = [item for item in items if item.mine]
    first = (mine or items or [None])[0]
    if first is None:
        messages.info(request, "All caught up: no conversation is waiting for a reply.")
        return redirect("workbench")
    return redirect("workbench-conversation", public_id=first.public_id)


def _page_context(conversation: Conversation, turn: WorkbenchTurn | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "conversation": conversation_blind_payload(conversation=conversation),
        "public_id": conversation.public_id,
        "queue_title": conversation.campaign.display_title,
        "turn": None,
    }
    if turn is not None:
        context["turn"] = turn_blind_payload(turn=turn)
        context["failed"] = turn.status == WorkbenchTurn.Status.FAILED
    return context


@require_GET
@agent_required
def conversation_page(request: HttpRequest, public_id: str) -> HttpResponse:
    """The conversation (claimed for this agent) and its suggestions, or the reply sent."""
    try:
        conversation = conversation_get_for_agent(agent=request.user, public_id=public_id)
        if conversation.status == Conversation.Status.SENT:
            return render(
                request, "feedback/workbench_conversation.html", _page_context(conversation, None)
            )
        wait_s = min(conf.workbench_inline_wait_s(), conf.workbench_timeout_s())
        turn = workbench_conversation_open(
            conversation=conversation, agent=request.user, wait_s=wait_s
        )
    except ServiceError as error:
        return _service_error_page(request, error)
    context = _page_context(conversation, turn)
    if context["failed"]:
        context["failure_message"] = (
            "Suggestions are not available right now. Write your own reply below, or try again."
        )
    return render(request, "feedback/workbench_conversation.html", context)


@require_POST
@agent_required
def suggestions(request: HttpRequest, public_id: str) -> HttpResponse:
    """Generate the 4 suggestions (once); JSON with the rendered cards for the page's script."""
    back = redirect("workbench-conversation", public_id=public_id)
    try:
        conversation = conversation_get_for_agent(agent=request.user, public_id=public_id)
        turn = turn_get_for_agent(agent=request.user, conversation=conversation)
        if turn.token != request.POST.get("token"):
            raise ServiceError("This page is out of date; reload it.", code="stale")
        turn = workbench_suggestions_ensure(turn=turn)
        turn = turn_get_for_agent(agent=request.user, conversation=conversation)
    except ServiceError as error:
        if _wants_json(request):
            return JsonResponse({"status": "failed", "message": error.message}, status=503)
        messages.error(request, error.message)
        return back
    if not _wants_json(request):
        return back
    cards = render_to_string(
        "feedback/_suggestions.html", {"turn": turn_blind_payload(turn=turn)}, request=request
    )
    return JsonResponse({"status": "ready", "html": cards})


def _slot(value: str) -> tuple[int | None, bool]:
    """The form's slot field: "1".."4", "none" (none usable) or empty (own reply)."""
    if value == "none":
        return None, True
    return (int(value), False) if value in ("1", "2", "3", "4") else (None, False)


def _pick_ms(value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:
        return None


@require_POST
@agent_required
def send(request: HttpRequest, public_id: str) -> HttpResponse:
    """Send the reply and open the next conversation; a reply that cannot go comes back to the
    page with the agent's text kept."""
    slot_field = request.POST.get("slot", "")
    slot, none_usable = _slot(slot_field)
    text = request.POST.get("text", "")
    try:
        conversation = conversation_get_for_agent(agent=request.user, public_id=public_id)
        workbench_reply_send(
            token=request.POST.get("token", ""),
            agent=request.user,
            text=text,
            slot=slot,
            none_usable=none_usable,
            time_to_pick_ms=_pick_ms(request.POST.get("pick_ms", "")),
        )
    except ServiceError as error:
        if error.status_code != 400:
            messages.error(request, SEND_MESSAGES.get(error.code, error.message))
            return redirect("workbench-next")
        turn = turn_get_for_agent(agent=request.user, conversation=conversation)
        context = {
            **_page_context(conversation, turn),
            "draft": text,
            "draft_slot": slot_field,
            "send_error": error.message,
        }
        return render(request, "feedback/workbench_conversation.html", context, status=400)
    messages.success(request, "Reply sent.")
    return redirect("workbench-next")
