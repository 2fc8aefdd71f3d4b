"""Votes that come from outside the rating pages: workbench picks and n-way choices (recorded by
the feedback app), so reports see every support-rate signal without importing feedback."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evalhub.models import Campaign, Prompt, Vote
from evalhub.models.campaigns import Outcome
from evalhub.services.errors import InvalidInput

SIGNAL_KINDS = (Vote.Kind.WORKBENCH, Vote.Kind.CHOICE)


def vote_record_signal(
    *,
    campaign: Campaign,
    prompt: Prompt,
    kind: str,
    outcome: str,
    choice: str,
    source_key: str,
    channel: str = "",
    rater: AbstractBaseUser | None = None,
    time_taken_ms: int | None = None,
    reason: str = "",
    is_simulated: bool = False,
) -> Vote:
    """Record a pick that counts toward the campaign's support rate, exactly once per source.

    ``source_key`` names the feedback record (e.g. ``workbench-turn:12``); recording the same key
    again returns the vote already stored. ``outcome`` is candidate / baseline, or both_bad for
    "none usable"; ``choice`` is what was picked as shown (a slot or an option position).
    """
    if kind not in SIGNAL_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(SIGNAL_KINDS)} (pairwise votes go through rating)."
        )
    if outcome not in Outcome.values:
        raise InvalidInput(f"Unknown outcome {outcome!r}.")
    if not source_key:
        raise InvalidInput("A feedback vote needs the source_key of the record it came from.")
    existing = Vote.objects.filter(campaign=campaign, source_key=source_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Vote.objects.create(
                campaign=campaign,
                prompt=prompt,
                rater=rater,
                kind=kind,
                channel=channel[:64],
                choice=str(choice)[:16],
                outcome=outcome,
                reason=reason,
                time_taken_ms=time_taken_ms,
                source_key=source_key[:200],
                is_simulated=is_simulated,
            )
    except IntegrityError:
        return Vote.objects.get(campaign=campaign, source_key=source_key)
