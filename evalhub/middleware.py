"""evalhub's own middleware: body size limit, audit context, Content-Security-Policy.

- ``RequestGuardMiddleware``: a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (imports
  included: they are read into memory) is refused before anything reads it, with 413 and the
  API's JSON error shape under ``/api/`` (a short text page elsewhere). Django's own check
  (``RequestDataTooBig``, raised when a body without Content-Length grows too large) gets the
  same answer instead of an HTML 400. A NUL character in the path or the query string (never
  valid here, and refused by PostgreSQL in any text it is asked to compare) is a 400.
- ``AuditContextMiddleware``: changes made while serving a request are attributed to its user,
  through ``admin``, ``api`` or ``page`` (``evalhub.services.audit``).
- ``ApiErrorShapeMiddleware``: an error under ``/api/`` that Django answered with an HTML page
  (a path that matches no route, a Bad Request from a bad Host header, an unexpected exception's
  500) gets the API's one JSON error shape instead.
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


def _refuse(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": {"code": code, "message": message, "details": {}}}
        return JsonResponse(body, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _too_large(request: HttpRequest) -> HttpResponse:
    limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
    message = f"The request body is larger than the {limit:,} bytes this server accepts."
    return _refuse(request, 413, "request_too_large", message)


class RequestGuardMiddleware:
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
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            message = "The address holds a NUL character (%00), which no evalhub URL accepts."
            return _refuse(request, 400, "invalid", message)
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


_ERROR_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    500: "server_error",
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and response.get("Content-Type", "").startswith("text/html")
        ):
            status = response.status_code
            message = {
                404: f"No API endpoint at {request.path}.",
                500: "The server hit an unexpected error.",
            }.get(status, response.reason_phrase)
            code = _ERROR_CODES.get(status, "error")
            body = {"error": {"code": code, "message": message, "details": {}}}
            return JsonResponse(body, status=status)
        return response


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
