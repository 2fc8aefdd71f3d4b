"""Thumbs up / down sent by products about answers they showed (``POST /api/v1/feedback/thumbs``).

The answer is named by its evalhub output id, or by the product's trace id with the model
version's name and the text shown (the first thumb on a trace stores that text as an imported
output). Everything is validated before anything is written, so a bad request stores nothing.
The latest thumb of one product user on one output counts; earlier ones stay as history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evalhub.models import Campaign, ModelVersion, Output
from evalhub.services.errors import Conflict, InvalidInput, NotFound
from feedback.models import Thumb, TracedOutput
from feedback.services.prompts import prompt_get_or_create

MAX_COMMENT = 5000


@dataclass(frozen=True)
class ThumbRecorded:
    thumb: Thumb
    replaced_previous: bool
    output_created: bool


def campaign_for_feedback(*, campaign_id: int | None, kind: str) -> Campaign | None:
    """The open campaign of this kind a feedback record names (None when it names none)."""
    if campaign_id is None:
        return None
    campaign = (
        Campaign.objects.select_related("baseline", "candidate").filter(pk=campaign_id).first()
    )
    if campaign is None:
        raise NotFound(f"No campaign with id {campaign_id}.", code="unknown_campaign")
    if campaign.kind != kind:
        raise InvalidInput(
            f"Campaign {campaign_id} is a {campaign.kind} campaign, not a {kind} campaign.",
            code="wrong_campaign",
            details={"field": "campaign"},
        )
    if campaign.status != Campaign.Status.OPEN:
        raise Conflict(
            f"Campaign {campaign_id} is {campaign.status}, not open.", code="campaign_not_open"
        )
    return campaign


def _check_lengths(**fields: tuple[str, int]) -> None:
    for name, (value, limit) in fields.items():
        if len(value) > limit:
            raise InvalidInput(
                f"{name} is too long ({limit} characters at most).", details={"field": name}
            )


def _traced_version(*, trace_id: str, model_version: str, text: str) -> ModelVersion:
    if not (trace_id and model_version and text.strip()):
        raise InvalidInput(
            "Name the answer by output_id, or by trace_id with model_version and text.",
            details={"field": "output_id"},
        )
    version = ModelVersion.objects.filter(name=model_version).first()
    if version is None:
        raise NotFound(f"No model version named {model_version!r}.", code="unknown_model_version")
    return version


def _traced_output(
    *, version: ModelVersion, trace_id: str, text: str, prompt: str, prompt_id: str
) -> tuple[Output, bool]:
    """The output stored for this trace, created (with its prompt) on the first thumb."""
    traced = TracedOutput.objects.select_related("output").filter(
        model_version=version, trace_id=trace_id
    )
    found = traced.first()
    if found is None:
        if not (prompt.strip() or prompt_id):
            raise InvalidInput(
                "A new trace needs the prompt text (prompt) or the product's prompt_id.",
                details={"field": "prompt"},
            )
        try:
            with transaction.atomic():
                the_prompt = prompt_get_or_create(
                    instruction=prompt.strip() or f"(product prompt {prompt_id})",
                    external_id=prompt_id,
                    source="thumbs",
                )
                output = Output.objects.create(
                    prompt=the_prompt,
                    model_version=version,
                    text=text,
                    params={"trace_id": trace_id},
                    origin=Output.Origin.IMPORTED,
                )
                TracedOutput.objects.create(model_version=version, trace_id=trace_id, output=output)
                return output, True
        except IntegrityError:  # the same trace arrived twice at once
            found = traced.first()
            if found is None:
                raise
    if found.output.text != text:
        raise Conflict(
            f"Trace {trace_id!r} was recorded with a different text.", code="trace_text_mismatch"
        )
    return found.output, False


def thumb_record(
    *,
    sent_by: AbstractBaseUser | None,
    value: str,
    output_id: int | None = None,
    trace_id: str = "",
    model_version: str = "",
    text: str = "",
    prompt: str = "",
    prompt_id: str = "",
    campaign_id: int | None = None,
    comment: str = "",
    channel: str = "",
    product_user_id: str = "",
    idempotency_key: str = "",
) -> ThumbRecorded:
    """Record one thumb (see the module docstring for how the answer is named)."""
    if value not in Thumb.Value.values:
        raise InvalidInput(f"Unknown value {value!r}; use up or down.", details={"field": "value"})
    _check_lengths(
        comment=(comment, MAX_COMMENT),
        channel=(channel, 64),
        product_user_id=(product_user_id, 200),
        trace_id=(trace_id, 200),
        prompt_id=(prompt_id, 200),
    )
    if output_id is not None and trace_id:
        raise InvalidInput("Give output_id or trace_id, not both.", details={"field": "trace_id"})
    campaign = campaign_for_feedback(campaign_id=campaign_id, kind=Campaign.Kind.THUMBS)
    output: Output | None = None
    version: ModelVersion | None = None
    if output_id is not None:
        output = Output.objects.filter(pk=output_id).first()
        if output is None:
            raise NotFound(f"No output with id {output_id}.", code="unknown_output")
        version_id = output.model_version_id
    else:
        version = _traced_version(trace_id=trace_id, model_version=model_version, text=text)
        version_id = version.pk
    if campaign is not None and version_id not in (campaign.baseline_id, campaign.candidate_id):
        raise InvalidInput(
            f"That answer's model is neither model of campaign {campaign.pk}.",
            code="foreign_output",
            details={"field": "campaign"},
        )
    for attempt in (1, 2):
        try:
            return _write_thumb(
                campaign=campaign,
                output=output if output_id is not None else None,
                traced={
                    "version": version,
                    "trace_id": trace_id,
                    "text": text,
                    "prompt": prompt,
                    "prompt_id": prompt_id,
                }
                if output_id is None
                else None,
                fields={
                    "value": value,
                    "comment": comment.strip(),
                    "channel": channel,
                    "product_user_id": product_user_id,
                    "trace_id": trace_id,
                    "sent_by": sent_by,
                    "idempotency_key": idempotency_key[:200],
                },
            )
        except IntegrityError:
            # The same product user thumbed the same output at the same moment: the other
            # write is committed now, so a second try supersedes it cleanly.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write_thumb(
    *,
    campaign: Campaign | None,
    output: Output | None,
    traced: dict[str, Any] | None,
    fields: dict[str, Any],
) -> ThumbRecorded:
    with transaction.atomic():
        created = False
        if output is None:
            assert traced is not None
            output, created = _traced_output(**traced)
        replaced = 0
        if fields["product_user_id"]:
            replaced = Thumb.objects.filter(
                output=output, product_user_id=fields["product_user_id"], is_current=True
            ).update(is_current=False)
        thumb = Thumb.objects.create(campaign=campaign, output=output, **fields)
        if campaign is not None:
            campaign.prompts.add(output.prompt_id)
    return ThumbRecorded(thumb=thumb, replaced_previous=bool(replaced), output_created=created)
