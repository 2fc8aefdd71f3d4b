"""Throttling, permissions and CORS shared by feedback's product-facing endpoints."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from evalhub.api.permissions import HasPerm
from feedback import conf

THROTTLE_SCOPE = "feedback"
DEFAULT_RATE = "600/min"

SEND_FEEDBACK = HasPerm.of("feedback.send_feedback")
PUSH_CONVERSATIONS = HasPerm.of("feedback.push_conversations")
VIEW_REPORTS = HasPerm.of("evalhub.view_reports")


class FeedbackThrottle(ScopedRateThrottle):
    """Requests per API token (per user) on product endpoints.

    The rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["feedback"]``, read at request time
    (DRF's own class reads it once at import), default 600/min. Counts live in Django's cache:
    use a shared cache (Redis, database) when several web processes serve the API.
    """

    def get_rate(self) -> str | None:
        return (api_settings.DEFAULT_THROTTLE_RATES or {}).get(self.scope, DEFAULT_RATE)


def with_cors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let pages on ``FEEDBACK_ALLOWED_ORIGINS`` call this endpoint from the browser."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        origin = request.headers.get("Origin", "").rstrip("/")
        allowed = bool(origin) and origin in conf.allowed_origins()
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response = HttpResponse(status=204 if allowed else 403)
        else:
            response = view(request, *args, **kwargs)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, Idempotency-Key"
            )
            response["Access-Control-Max-Age"] = "600"
        patch_vary_headers(response, ["Origin"])
        return response

    return csrf_exempt(wrapped)
