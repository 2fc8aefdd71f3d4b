"""Prompts that feedback records answer: found by content (or the product's id), else created."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from evalhub.models import Prompt
from evalhub.models.prompts import prompt_content_hash
from evalhub.services.errors import InvalidInput


def prompt_get_or_create(
    *,
    instruction: str,
    source: str,
    system: str = "",
    history: list[Any] | None = None,
    external_id: str = "",
) -> Prompt:
    """The prompt with this content (or this external id), created when there is none.

    Two records with the same text share one prompt, which is what pairs thumbs by prompt.
    """
    if not (instruction or "").strip():
        raise InvalidInput("A prompt needs a non-empty text.", details={"field": "prompt"})
    if external_id:
        found = Prompt.objects.filter(external_id=external_id).first()
        if found is not None:
            return found
    history = history or []
    content_hash = prompt_content_hash(instruction=instruction, system=system, history=history)
    found = Prompt.objects.filter(content_hash=content_hash).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Prompt.objects.create(
                instruction=instruction,
                system=system,
                history=history,
                source=source[:200],
                external_id=external_id or None,
            )
    except IntegrityError:  # created meanwhile by a concurrent request
        found = Prompt.objects.filter(content_hash=content_hash).first()
        if found is None and external_id:
            found = Prompt.objects.filter(external_id=external_id).first()
        if found is None:
            raise
        return found
