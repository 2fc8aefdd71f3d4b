"""Choice tasks that products create through the API (``POST /api/v1/choices``).

Options are evalhub outputs by id, or texts with the name of the model version that wrote them
(stored as imported outputs of the task's prompt; the same text again reuses its output). The
prompt is the outputs' own prompt, or the ``prompt`` text / ``prompt_id`` the product sends.
Everything is checked before anything is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from evalhub.models import Campaign, ModelVersion, Output, Prompt
from evalhub.models.prompts import params_hash
from evalhub.services.errors import InvalidInput, NotFound
from feedback.models import ChoiceTask
from feedback.models.choice import MAX_OPTIONS, MIN_OPTIONS
from feedback.services.choice import choice_task_create
from feedback.services.prompts import prompt_get_or_create
from feedback.services.thumbs import campaign_for_feedback

MAX_TEXT = 50_000


def _resolve(options: Sequence[Mapping[str, Any]]) -> list[Output | tuple[ModelVersion, str]]:
    """Each option as an existing output, or (model version, text) to store."""
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise InvalidInput(
            f"A choice needs {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(options)}.",
            details={"field": "options"},
        )
    ids = [o["output_id"] for o in options if o.get("output_id") is not None]
    outputs = Output.objects.in_bulk(ids)
    names = {o.get("model_version") or "" for o in options if o.get("output_id") is None}
    versions = {v.name: v for v in ModelVersion.objects.filter(name__in=names)}
    resolved: list[Output | tuple[ModelVersion, str]] = []
    for number, option in enumerate(options, start=1):
        if option.get("output_id") is not None:
            if option["output_id"] not in outputs:
                raise NotFound(
                    f"Option {number}: no output with id {option['output_id']}.",
                    code="unknown_output",
                )
            resolved.append(outputs[option["output_id"]])
            continue
        name, text = option.get("model_version") or "", option.get("text") or ""
        if not (name and text.strip()):
            raise InvalidInput(
                f"Option {number}: give output_id, or model_version and text.",
                details={"field": "options"},
            )
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"Option {number}: the text is too long.")
        if name not in versions:
            raise NotFound(
                f"Option {number}: no model version named {name!r}.",
                code="unknown_model_version",
            )
        resolved.append((versions[name], text))
    return resolved


def _task_prompt(resolved: Sequence[Any], prompt: str, prompt_id: str) -> Prompt | None:
    """The outputs' shared prompt; None when the product's prompt text / id decides it."""
    prompt_ids = {item.prompt_id for item in resolved if isinstance(item, Output)}
    if len(prompt_ids) > 1:
        raise InvalidInput("The options answer different prompts.", details={"field": "options"})
    if prompt_ids:
        return Prompt.objects.get(pk=prompt_ids.pop())
    if not (prompt.strip() or prompt_id):
        raise InvalidInput(
            "Say what the options answer: prompt (text) or prompt_id.",
            details={"field": "prompt"},
        )
    return None


def _stored_output(prompt: Prompt, version: ModelVersion, text: str) -> Output:
    params = {"text_sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}
    output, _ = Output.objects.get_or_create(
        prompt=prompt,
        model_version=version,
        sample_index=0,
        params_hash=params_hash(params),
        defaults={"text": text, "params": params, "origin": Output.Origin.IMPORTED},
    )
    return output


def choice_task_create_for_product(
    *,
    created_by: AbstractBaseUser,
    campaign_id: int,
    options: Sequence[Mapping[str, Any]],
    prompt: str = "",
    prompt_id: str = "",
    channel: str = "",
    product_user_id: str = "",
) -> ChoiceTask:
    campaign = campaign_for_feedback(campaign_id=campaign_id, kind=Campaign.Kind.CHOICE)
    assert campaign is not None
    resolved = _resolve(options)
    the_prompt = _task_prompt(resolved, prompt, prompt_id)
    with transaction.atomic():
        if the_prompt is None:
            the_prompt = prompt_get_or_create(
                instruction=prompt.strip() or f"(product prompt {prompt_id})",
                external_id=prompt_id,
                source="choice",
            )
        outputs = [
            item if isinstance(item, Output) else _stored_output(the_prompt, *item)
            for item in resolved
        ]
        task = choice_task_create(
            campaign=campaign,
            prompt=the_prompt,
            outputs=outputs,
            created_by=created_by,
            channel=channel,
            product_user_id=product_user_id,
        )
        campaign.prompts.add(the_prompt)
    return task
