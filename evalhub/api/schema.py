"""OpenAPI schema post-processing: every operation documents the API's error answers.

drf-spectacular documents the success responses a view declares. The errors every endpoint
can give come from shared machinery (``evalhub.api.errors``, DRF's parsers, authentication,
throttling, ``evalhub.middleware``) and all have one shape, ``ApiError``; this hook adds them
to each operation that does not already describe them, so clients (and schemathesis) see the
whole contract:

- every operation: 400 (invalid input), 401 (no credentials), 403 (not allowed), 404 (no such
  object, or not yours), 429 (throttled), 503 (database unavailable, with Retry-After);
- operations with a request body: 413 (body over DATA_UPLOAD_MAX_MEMORY_SIZE) and 415 (media
  type not accepted);
- writes (POST, PUT, PATCH, DELETE): 409 (conflicts with the current state: a name taken, a
  campaign already closed, a job already finished);
- operations that take an ``Idempotency-Key`` header: 422 (the key was used with another body).
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "ApiError"
ERROR_SCHEMA = {
    "type": "object",
    "description": 'Every error: {"error": {"code", "message", "details"}}.',
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Machine-readable, e.g. invalid."},
                "message": {"type": "string", "description": "For people."},
                "details": {"type": "object", "additionalProperties": True},
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}
ALWAYS = {
    "400": "Invalid input (details name the fields).",
    "401": "Not authenticated (send Authorization: Token <key>).",
    "403": "Authenticated, but not allowed.",
    "404": "No such object (or not yours).",
    "429": "Too many requests (see Retry-After).",
    "503": "The database is unavailable; retry after Retry-After seconds.",
}
WITH_BODY = {
    "413": "The body is larger than the server accepts.",
    "415": "The body's media type is not accepted.",
}
WRITES = {"409": "Conflicts with the current state (see the message)."}
IDEMPOTENT = {"422": "This Idempotency-Key was already used with a different body."}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _takes_idempotency_key(operation: dict[str, Any]) -> bool:
    return any(
        param.get("in") == "header" and param.get("name", "").lower() == "idempotency-key"
        for param in operation.get("parameters", [])
    )


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            errors = dict(ALWAYS)
            if "requestBody" in operation:
                errors.update(WITH_BODY)
            if method in WRITE_METHODS:
                errors.update(WRITES)
            if _takes_idempotency_key(operation):
                errors.update(IDEMPOTENT)
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
