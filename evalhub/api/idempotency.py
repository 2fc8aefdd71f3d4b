"""Idempotency-Key for writes that clients may retry: a retry returns the first response and
stores nothing new. The record is written in the same transaction as the write it guards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from evalhub.api.errors import error_response
from evalhub.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def _fingerprint(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_fingerprint != fingerprint:
        return error_response(
            422,
            "idempotency_key_reused",
            f"This {HEADER} was already used with a different request body.",
        )
    response = Response(record.response, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request: Request, scope: str, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` at most once per (user, scope, Idempotency-Key); without a key, just run it.

    The key is claimed (a unique row) in the same transaction as the write, before it: a retry
    racing the original waits on that row and then replays the original's response, instead of
    running the write again and reporting a conflict. Only 2xx responses are kept; an error
    rolls the claim back so a later retry can succeed.
    """
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        return handler()
    if len(key) > 200:
        return error_response(400, "invalid", f"{HEADER} is too long (200 characters at most).")
    fingerprint = _fingerprint(request.data)
    try:
        with transaction.atomic():
            record, created = IdempotencyRecord.objects.get_or_create(
                user=request.user,
                scope=scope,
                key=key,
                defaults={"request_fingerprint": fingerprint, "status_code": 0, "response": {}},
            )
            if not created:  # a retry: the original committed this record with its response
                return _replay(record, fingerprint)
            response = handler()
            if 200 <= response.status_code < 300:
                record.status_code = response.status_code
                record.response = json.loads(json.dumps(response.data, default=str))
                record.save(update_fields=["status_code", "response"])
            else:
                transaction.set_rollback(True)
            return response
    except IntegrityError:
        winner = IdempotencyRecord.objects.filter(user=request.user, scope=scope, key=key).first()
        if winner is None:
            raise
        return _replay(winner, fingerprint)
