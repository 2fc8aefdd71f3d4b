"""Domain errors raised by services and selectors; the API and CLI turn them into clear messages."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request that cannot be carried out, with an HTTP-like status and a stable code."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(ServiceError):
    status_code = 400
    code = "invalid"


class NotFound(ServiceError):
    """Missing and not-yours look the same (a 404), so ids cannot be probed."""

    status_code = 404
    code = "not_found"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class Gone(ServiceError):
    status_code = 410
    code = "gone"
