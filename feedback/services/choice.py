"""N-way choices: n answers to one prompt, shuffled and anonymous, and the one picked.

A task's options are shuffled once when it is created (``secrets.SystemRandom``) and the order
shown is stored (``ChoiceOption.position``). A task counts toward its campaign's support rate
(STATS.md 1.4, as the 2+2 workbench) only when its options come from the campaign's baseline and
candidate and from nothing else, as many from each: then a pick is a vote of kind ``choice``
with outcome candidate or baseline, and "none of these" is both_bad (left out of the rate and
reported beside it). Other tasks are recorded and reported, but never mixed into the rate.

Raters (``/choose/``) get tasks built from the campaign's stored outputs: every prompt up to
``votes_per_prompt`` picks, the least-picked first, each prompt at most once per rater, with the
same number of answers from each model (at most two each: 2 or 4 options). Serving takes a
row lock on the campaign, so racing raters never push a prompt past ``votes_per_prompt``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from evalhub.models import Campaign, Output, Prompt, Vote
from evalhub.models.campaigns import Outcome
from evalhub.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from evalhub.services.rating import rater_can_rate
from evalhub.services.votes import vote_record_signal
from feedback.models import ChoiceOption, ChoiceTask
from feedback.models.choice import MAX_OPTIONS, MIN_OPTIONS
from feedback.models.common import Source

RATER_OPTIONS_PER_SIDE = 2
MAX_PICK_MS = 24 * 3600 * 1000


def _source(campaign: Campaign, output: Output) -> str:
    if output.model_version_id == campaign.baseline_id:
        return Source.BASELINE
    if output.model_version_id == campaign.candidate_id:
        return Source.CANDIDATE
    return Source.OTHER


def _counts_toward_support_rate(sources: Sequence[str]) -> bool:
    return set(sources) == {Source.BASELINE, Source.CANDIDATE} and sources.count(
        Source.BASELINE
    ) == sources.count(Source.CANDIDATE)


def choice_task_create(
    *,
    campaign: Campaign,
    prompt: Prompt,
    outputs: Sequence[Output],
    rater: AbstractBaseUser | None = None,
    created_by: AbstractBaseUser | None = None,
    channel: str = "",
    product_user_id: str = "",
    now: datetime | None = None,
) -> ChoiceTask:
    """A task showing ``outputs`` (2 to 8 answers to ``prompt``) in a fresh random order."""
    if not MIN_OPTIONS <= len(outputs) <= MAX_OPTIONS:
        raise InvalidInput(
            f"A choice needs {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(outputs)}.",
            details={"field": "options"},
        )
    if len({output.pk for output in outputs}) != len(outputs):
        raise InvalidInput("The same answer is given twice.", details={"field": "options"})
    if any(output.prompt_id != prompt.pk for output in outputs):
        raise InvalidInput(
            "Every option must answer the task's prompt.", details={"field": "options"}
        )
    shown = list(outputs)
    secrets.SystemRandom().shuffle(shown)
    sources = [_source(campaign, output) for output in shown]
    with transaction.atomic():
        task = ChoiceTask.objects.create(
            campaign=campaign,
            prompt=prompt,
            rater=rater,
            created_by=created_by,
            channel=channel[:64],
            product_user_id=product_user_id[:200],
            counts_toward_support_rate=_counts_toward_support_rate(sources),
            shown_at=now or timezone.now(),
        )
        ChoiceOption.objects.bulk_create(
            ChoiceOption(task=task, position=i, output=output, source=source)
            for i, (output, source) in enumerate(zip(shown, sources, strict=True), start=1)
        )
    return task


def _rater_outputs(campaign: Campaign, prompt_id: int) -> list[Output]:
    per_side = [
        list(
            Output.objects.filter(prompt_id=prompt_id, model_version_id=version_id).order_by(
                "sample_index", "id"
            )[:RATER_OPTIONS_PER_SIDE]
        )
        for version_id in (campaign.baseline_id, campaign.candidate_id)
    ]
    k = min(len(side) for side in per_side)
    return [output for side in per_side for output in side[:k]]


def _next_prompt_id(campaign: Campaign, rater: AbstractBaseUser, now: datetime) -> int | None:
    cutoff = now - timedelta(seconds=settings.EVALHUB_ASSIGNMENT_TTL_SECONDS)
    live = Q(status=ChoiceTask.Status.PICKED) | Q(
        status=ChoiceTask.Status.OPEN, shown_at__gt=cutoff
    )
    load = Subquery(
        ChoiceTask.objects.filter(live, campaign=campaign, prompt_id=OuterRef("pk"))
        .order_by()
        .values("prompt_id")
        .annotate(n=Count("pk"))
        .values("n")[:1],
        output_field=IntegerField(),
    )

    def answered_by(version_id: int) -> Exists:
        return Exists(Output.objects.filter(prompt_id=OuterRef("pk"), model_version_id=version_id))

    seen = ChoiceTask.objects.filter(campaign=campaign, rater=rater).values("prompt_id")
    return (
        campaign.prompts.exclude(pk__in=seen)
        .filter(answered_by(campaign.baseline_id), answered_by(campaign.candidate_id))
        .annotate(load=Coalesce(load, 0))
        .filter(load__lt=campaign.votes_per_prompt)
        .order_by("load", "?")
        .values_list("pk", flat=True)
        .first()
    )


def choice_task_next(
    *, campaign: Campaign, rater: AbstractBaseUser, now: datetime | None = None
) -> ChoiceTask | None:
    """The rater's open task in this campaign (the same one on reload), else a new one, else
    None when nothing is left for them."""
    if campaign.kind != Campaign.Kind.CHOICE:
        raise NotFound("No such choice campaign.")
    if campaign.status != Campaign.Status.OPEN:
        raise Conflict("This campaign is not open.", code="campaign_not_open")
    if not rater_can_rate(rater=rater, campaign=campaign):
        raise Forbidden("You are not a rater of this campaign.")
    now = now or timezone.now()
    mine = ChoiceTask.objects.filter(campaign=campaign, rater=rater, status=ChoiceTask.Status.OPEN)
    live = mine.first()
    if live is not None:
        return live
    try:
        with transaction.atomic():
            # One server at a time per campaign: two raters racing for the last pick of a prompt
            # would otherwise both get it (votes_per_prompt + 1). Serving a choice is rare next
            # to voting, so a campaign-row lock costs nothing measurable.
            Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
            prompt_id = _next_prompt_id(campaign, rater, now)
            if prompt_id is None:
                return None
            return choice_task_create(
                campaign=campaign,
                prompt=Prompt.objects.get(pk=prompt_id),
                outputs=_rater_outputs(campaign, prompt_id),
                rater=rater,
                channel="choose",
                now=now,
            )
    except IntegrityError:  # a double click created it a moment ago
        return mine.first()


def _locked_open_task(task: ChoiceTask) -> ChoiceTask:
    locked = (
        ChoiceTask.objects.select_for_update().select_related("campaign").filter(pk=task.pk).first()
    )
    if locked is None:
        raise NotFound("No such choice task.", code="unknown_task")
    if locked.status == ChoiceTask.Status.PICKED:
        raise Conflict("This choice was already made.", code="already_picked")
    if locked.status == ChoiceTask.Status.SKIPPED:
        raise Conflict("This choice was skipped.", code="skipped")
    if locked.campaign.status != Campaign.Status.OPEN:
        raise Conflict("This campaign is closed.", code="campaign_not_open")
    return locked


def choice_pick(
    *,
    task: ChoiceTask,
    key: str = "",
    position: int | None = None,
    none_usable: bool = False,
    time_to_pick_ms: int | None = None,
    now: datetime | None = None,
) -> ChoiceTask:
    """Record the pick (an option by key or position) or "none of these"; exactly once."""
    now = now or timezone.now()
    if none_usable == bool(key or position is not None):
        raise InvalidInput(
            "Pick one option (key or position), or none=true; not both.",
            details={"field": "key"},
        )
    if time_to_pick_ms is not None and not 0 <= time_to_pick_ms <= MAX_PICK_MS:
        raise InvalidInput("time_to_pick_ms is out of range.", details={"field": "time_to_pick_ms"})
    with transaction.atomic():
        task = _locked_open_task(task)
        option = None
        if not none_usable:
            option = (
                ChoiceOption.objects.filter(task=task)
                .filter(Q(key=key) if key else Q(position=position))
                .first()
            )
            if option is None:
                raise InvalidInput(
                    "No such option in this choice.",
                    code="unknown_option",
                    details={"field": "key"},
                )
        elapsed = max(0, int((now - task.shown_at).total_seconds() * 1000))
        task.status = ChoiceTask.Status.PICKED
        task.picked = option
        task.none_usable = none_usable
        task.picked_at = now
        task.time_to_pick_ms = time_to_pick_ms if time_to_pick_ms is not None else elapsed
        if task.counts_toward_support_rate:
            task.vote = _record_vote(task, option)
        task.save(
            update_fields=[
                "status", "picked", "none_usable", "picked_at", "time_to_pick_ms", "vote"
            ]
        )  # fmt: skip
    return task


def _record_vote(task: ChoiceTask, option: ChoiceOption | None) -> Vote:
    return vote_record_signal(
        campaign=task.campaign,
        prompt=task.prompt,
        kind=Vote.Kind.CHOICE,
        outcome=Outcome.BOTH_BAD if option is None else option.source,
        choice="none" if option is None else str(option.position),
        source_key=f"choice-task:{task.pk}",
        channel=task.channel,
        rater=task.rater,
        time_taken_ms=task.time_to_pick_ms,
    )


def choice_skip(*, task: ChoiceTask) -> ChoiceTask:
    """A rater gives the task back unpicked; its prompt goes to another rater."""
    with transaction.atomic():
        task = _locked_open_task(task)
        task.status = ChoiceTask.Status.SKIPPED
        task.save(update_fields=["status"])
    return task
