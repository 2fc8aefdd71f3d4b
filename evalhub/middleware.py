"""evalhub's own middleware: body size limit, audit context, Content-Security-Policy.

- ``RequestSizeLimitMiddleware``: a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (imports
  included: they are read into memory) is refused before anything reads it, with 413 and the
  API's JSON error shape under ``/api/`` (a short text page elsewhere). Django's own check
  (``RequestDataTooBig``, raised when a body without Content-Length grows too large) gets the
  same answer instead of an HTML 400.
- ``AuditContextMiddleware``: changes made while serving a request are attributed to its user,
  through ``admin``, ``api`` or ``page`` (``evalhub.services.audit``).
- ``ContentSecurityPolicyMiddleware``: every HTML response carries ``EVALHUB_CSP`` (scripts only
  from our own static files, no inline script, no framing, no plugins). Pages keep their
  scripts in static files and hand data to them with ``json_script`` (JSON, not executable).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from evalhub.services.audit import audit_context, audit_via_for_path

GetResponse = Callable[[HttpRequest], HttpResponseBase]

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'"
)


def _too_large(request: HttpRequest) -> HttpResponse:
    limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
    message = f"The request body is larger than the {limit:,} bytes this server accepts."
    if request.path.startswith("/api/"):
        body = {"error": {"code": "request_too_large", "message": message, "details": {}}}
        return JsonResponse(body, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return _too_large(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return _too_large(request)
        return None


class AuditContextMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with audit_context(via=audit_via_for_path(request.path), request=request):
            return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "EVALHUB_CSP", DEFAULT_CSP)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if self.policy and content_type.startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
