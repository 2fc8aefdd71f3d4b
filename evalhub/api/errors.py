"""One JSON error shape for the whole API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from evalhub.services.errors import ServiceError

logger = logging.getLogger(__name__)


def error_response(status_code: int, code: str, message: str, details: Any = None) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "details": details or {}}}, status=status_code
    )


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field in ("non_field_errors", "detail") else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _unexpected(exc: Exception) -> Response | None:
    """Database trouble gets the one error shape too (never Django's HTML 500 on the API)."""
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        response = error_response(
            503, "database_unavailable", "The database is unavailable; retry in a moment."
        )
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return error_response(
            500, "server_error", "The server hit a database error; nothing was changed."
        )
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"errors": exc.messages}
        return error_response(400, "invalid", "; ".join(exc.messages), details)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return _unexpected(exc)
    if isinstance(exc, exceptions.ValidationError):
        code, details = "invalid", exc.detail
    else:
        code = getattr(exc, "default_code", "error")
        details = {}
    message = _first_message(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"error": {"code": code, "message": message, "details": details}}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.data["error"]["code"] = "not_authenticated"
    return response
