"""The agent's turn on a conversation: claim it, get 4 suggestions, send the reply.

- ``workbench_turn_open``: the agent claims the conversation (for
  ``FEEDBACK_WORKBENCH_CLAIM_MINUTES``); reopening it gives the same turn back.
- ``workbench_suggestions_ensure``: generates the suggestions once (no transaction is held
  while the models write; a generation already under way for the turn in this process is
  picked up), lays them out in one of the 6 layouts of 2 + 2 at random, and stores the layout.
  A failure is stored on the turn; the agent can still write their own reply.
- ``workbench_reply_send``: records the pick (slot, source, final text, edit distance, time to
  pick), marks the conversation sent with its reply, and records the pick as an evalhub vote of
  kind ``workbench`` (candidate / baseline, or both_bad for "none usable"). A reply sent when no
  suggestions could be shown is delivered but counts nowhere.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from evalhub.models import Campaign, Output, Vote
from evalhub.models.campaigns import Outcome
from evalhub.models.prompts import params_hash
from evalhub.roles import has_perm_cached
from evalhub.services.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from evalhub.services.votes import vote_record_signal
from feedback import conf
from feedback.models import Conversation, WorkbenchSuggestion, WorkbenchTurn
from feedback.models.common import Source
from feedback.services.suggestions import (
    GenerationUnavailable,
    SideSuggestions,
    in_flight_drop,
    in_flight_get,
    in_flight_put,
    suggestions_collect,
    suggestions_start,
)
from feedback.textdiff import levenshtein

USE_WORKBENCH = "evalhub.use_workbench"
MAX_REPLY = 20_000
PICK_SLACK_MS = 5_000


def agent_may_use(
    *, agent: AbstractBaseUser, campaign: Campaign, in_pool: bool | None = None
) -> bool:
    """Agent role, and in the campaign's pool when it has one. ``in_pool`` is the answer
    ``conversation_get_for_agent`` already annotated (saves two queries on the hot path)."""
    if not has_perm_cached(agent, USE_WORKBENCH):
        return False
    if in_pool is not None:
        return in_pool
    pool = campaign.raters.all()
    return not pool.exists() or pool.filter(pk=agent.pk).exists()


def _check_open(conversation: Conversation, agent: AbstractBaseUser) -> None:
    campaign = conversation.campaign
    if campaign.kind != Campaign.Kind.WORKBENCH:
        raise NotFound("No such conversation.")
    annotated = getattr(conversation, "has_pool", None)
    in_pool = None if annotated is None else (not annotated or conversation.in_pool)
    if not agent_may_use(agent=agent, campaign=campaign, in_pool=in_pool):
        raise Forbidden("This conversation's queue is not one of yours.")
    if conversation.status == Conversation.Status.SENT:
        raise Conflict("A reply to this conversation was already sent.", code="already_sent")
    if conversation.status == Conversation.Status.SUPERSEDED:
        raise Gone(
            "The customer wrote again: this conversation has a newer version in the queue.",
            code="superseded",
        )
    if campaign.status != Campaign.Status.OPEN:
        raise Conflict("This queue is closed.", code="campaign_not_open")


def workbench_turn_open(
    *, conversation: Conversation, agent: AbstractBaseUser, now: datetime | None = None
) -> WorkbenchTurn:
    """The agent's live turn on this conversation, claiming it when nobody else holds it."""
    _check_open(conversation, agent)
    return _claim(conversation, agent, now or timezone.now())


def _claim(conversation: Conversation, agent: AbstractBaseUser, now: datetime) -> WorkbenchTurn:
    stale_before = now - timedelta(minutes=conf.workbench_claim_minutes())
    with transaction.atomic():
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        live = conversation.turns.filter(status__in=WorkbenchTurn.LIVE).first()
        if live is not None and live.agent_id == agent.pk:
            return live
        if live is not None:
            if live.opened_at > stale_before:
                raise Conflict("Another agent is answering this conversation.", code="claimed")
            live.status = WorkbenchTurn.Status.RELEASED
            live.save(update_fields=["status"])
        return WorkbenchTurn.objects.create(conversation=conversation, agent=agent, opened_at=now)


def _needs_generation(conversation: Conversation, agent: AbstractBaseUser, now: datetime) -> bool:
    """Will this agent's turn need suggestions generated now? (A peek, without locks.)"""
    live = conversation.turns.filter(status__in=WorkbenchTurn.LIVE).first()
    if live is None:
        return True
    if live.agent_id != agent.pk:
        return live.opened_at <= now - timedelta(minutes=conf.workbench_claim_minutes())
    return live.status == WorkbenchTurn.Status.GENERATING and in_flight_get(live.pk) is None


def workbench_conversation_open(
    *,
    conversation: Conversation,
    agent: AbstractBaseUser,
    wait_s: float = 0.0,
    now: datetime | None = None,
) -> WorkbenchTurn:
    """Open a conversation for an agent: claim it and get its suggestions under way, waiting up
    to ``wait_s`` for them (the page then shows them in itself).

    The models are asked before the claim is written, so the claim and the page's other work
    overlap the generation instead of adding to it. ``conversation`` must come with its prompt
    and its campaign's models (``conversation_get_for_agent`` loads them).
    """
    now = now or timezone.now()
    _check_open(conversation, agent)
    pending = None
    if _needs_generation(conversation, agent, now):
        pending = suggestions_start(campaign=conversation.campaign, prompt=conversation.prompt)
    turn = _claim(conversation, agent, now)  # a refused claim leaves the generation unused
    if turn.status != WorkbenchTurn.Status.GENERATING:
        return turn
    if pending is not None and in_flight_get(turn.pk) is None:
        in_flight_put(turn.pk, pending, timeout_s=conf.workbench_timeout_s())
    with contextlib.suppress(GenerationUnavailable):  # stored on the turn: the page says so
        turn = workbench_suggestions_ensure(turn=turn, wait_s=wait_s, now=now)
    return turn


def _random_layout() -> list[tuple[str, int]]:
    """(source, sample index) per slot 1-4: one of the C(4, 2) = 6 layouts, uniformly."""
    rng = secrets.SystemRandom()
    candidate_slots = set(rng.sample(range(4), 2))
    samples = {Source.BASELINE: [0, 1], Source.CANDIDATE: [0, 1]}
    for order in samples.values():
        rng.shuffle(order)
    layout = []
    for slot in range(4):
        source = Source.CANDIDATE if slot in candidate_slots else Source.BASELINE
        layout.append((source, samples[source].pop()))
    return layout


def workbench_suggestions_ensure(
    *, turn: WorkbenchTurn, now: datetime | None = None, wait_s: float | None = None
) -> WorkbenchTurn:
    """Generate and store the turn's 4 suggestions unless it has them (see module docstring).

    With ``wait_s``, give up waiting after that long and return the turn still generating (the
    generation goes on; the next call in this process picks it up).
    """
    if turn.status == WorkbenchTurn.Status.READY:
        return turn
    if turn.status not in (WorkbenchTurn.Status.GENERATING, WorkbenchTurn.Status.FAILED):
        raise Conflict(f"This turn is {turn.status}.", code=turn.status)
    timeout_s = conf.workbench_timeout_s()
    pending = in_flight_get(turn.pk)
    if pending is None:
        conversation = Conversation.objects.select_related(
            "prompt", "campaign__baseline__parent", "campaign__candidate__parent"
        ).get(pk=turn.conversation_id)
        pending = suggestions_start(campaign=conversation.campaign, prompt=conversation.prompt)
        in_flight_put(turn.pk, pending, timeout_s=timeout_s)
    try:
        by_side = suggestions_collect(pending, timeout_s=timeout_s, wait_s=wait_s)
    except GenerationUnavailable as error:
        in_flight_drop(turn.pk)
        WorkbenchTurn.objects.filter(pk=turn.pk, status__in=WorkbenchTurn.LIVE).update(
            status=WorkbenchTurn.Status.FAILED, error=error.reason[:2000]
        )
        turn.refresh_from_db()
        raise
    if by_side is None:
        return turn
    in_flight_drop(turn.pk)
    return _store_suggestions(turn, by_side, pending.started, now or timezone.now())


def _store_suggestions(
    turn: WorkbenchTurn, by_side: dict[str, SideSuggestions], started: float, now: datetime
) -> WorkbenchTurn:
    with transaction.atomic():
        locked = (
            WorkbenchTurn.objects.select_for_update(of=("self",))
            .select_related("conversation__campaign")
            .get(pk=turn.pk)
        )
        if locked.status not in (WorkbenchTurn.Status.GENERATING, WorkbenchTurn.Status.FAILED):
            return locked  # a concurrent request stored its suggestions first
        campaign = locked.conversation.campaign
        versions = {Source.BASELINE: campaign.baseline_id, Source.CANDIDATE: campaign.candidate_id}
        layout = _random_layout()
        outputs = []
        for source, sample in layout:
            made = by_side[source]
            completion = made.completions[sample]
            params = {**made.params, "workbench_turn": locked.pk}
            outputs.append(
                Output(
                    prompt_id=locked.conversation.prompt_id,
                    model_version_id=versions[source],
                    text=completion.text,
                    sample_index=sample,
                    params=params,
                    params_hash=params_hash(params),
                    latency_ms=made.latency_ms,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason[:32],
                    origin=Output.Origin.GENERATED,
                )
            )
        Output.objects.bulk_create(outputs)
        WorkbenchSuggestion.objects.bulk_create(
            WorkbenchSuggestion(turn=locked, slot=slot, source=source, output=output)
            for slot, ((source, _), output) in enumerate(zip(layout, outputs, strict=True), 1)
        )
        locked.layout = "".join(source[0] for source, _ in layout)
        locked.status = WorkbenchTurn.Status.READY
        locked.error = ""
        locked.shown_at = now
        locked.generation_ms = (time.monotonic() - started) * 1000
        locked.save(update_fields=["layout", "status", "error", "shown_at", "generation_ms"])
    return locked


def _locked_turn(*, token: str, agent: AbstractBaseUser) -> WorkbenchTurn:
    turn = (
        WorkbenchTurn.objects.select_for_update(of=("self",))
        .select_related("conversation__campaign")
        .filter(token=token, agent=agent)
        .first()
        if token
        else None
    )
    if turn is None:
        raise NotFound("No such conversation turn for you.", code="unknown_token")
    if turn.status == WorkbenchTurn.Status.SENT:
        raise Conflict("You already sent a reply to this conversation.", code="already_sent")
    if turn.status == WorkbenchTurn.Status.RELEASED:
        raise Gone(
            "This conversation left your hands (the claim expired or the customer wrote "
            "again); nothing was sent.",
            code="released",
        )
    if turn.conversation.status != Conversation.Status.QUEUED:
        raise Conflict("This conversation was already answered.", code="already_sent")
    return turn


def _validated_pick(
    turn: WorkbenchTurn, slot: int | None, none_usable: bool
) -> WorkbenchSuggestion | None:
    if turn.status != WorkbenchTurn.Status.READY:
        if slot is not None:
            raise InvalidInput("There are no suggestions to pick from.", details={"field": "slot"})
        return None
    if none_usable == (slot is not None):
        raise InvalidInput(
            'Pick one suggestion (1-4) or mark "none usable".', details={"field": "slot"}
        )
    if slot is None:
        return None
    suggestion = turn.suggestions.select_related("output").filter(slot=slot).first()
    if suggestion is None:
        raise InvalidInput("Pick a suggestion from 1 to 4.", details={"field": "slot"})
    return suggestion


def workbench_reply_send(
    *,
    token: str,
    agent: AbstractBaseUser,
    text: str,
    slot: int | None = None,
    none_usable: bool = False,
    time_to_pick_ms: int | None = None,
    now: datetime | None = None,
) -> WorkbenchTurn:
    """Send the agent's reply and record the pick; exactly once per conversation."""
    now = now or timezone.now()
    with transaction.atomic():
        turn = _locked_turn(token=token, agent=agent)
        suggestion = _validated_pick(turn, slot, none_usable)
        text = (text or "").strip() or (suggestion.output.text.strip() if suggestion else "")
        if not text:
            raise InvalidInput("Write a reply before sending.", details={"field": "text"})
        if len(text) > MAX_REPLY:
            raise InvalidInput(f"The reply is too long ({MAX_REPLY} characters at most).")
        shown_ms = int((now - (turn.shown_at or turn.opened_at)).total_seconds() * 1000)
        if time_to_pick_ms is None or not 0 <= time_to_pick_ms <= shown_ms + PICK_SLACK_MS:
            time_to_pick_ms = max(0, shown_ms)
        conversation = turn.conversation
        turn.status = WorkbenchTurn.Status.SENT
        turn.sent_at = now
        turn.final_text = text
        turn.none_usable = none_usable and suggestion is None and turn.layout != ""
        turn.picked_slot = suggestion.slot if suggestion else None
        turn.picked_source = suggestion.source if suggestion else ""
        turn.edit_distance = (
            levenshtein(suggestion.output.text.strip(), text) if suggestion else None
        )
        turn.time_to_pick_ms = time_to_pick_ms if turn.layout else None
        turn.time_to_send_ms = max(0, shown_ms)
        if turn.layout and conversation.campaign.status == Campaign.Status.OPEN:
            turn.vote = _record_vote(turn, conversation, suggestion)
        turn.save()
        conversation.status = Conversation.Status.SENT
        conversation.reply_text = text
        conversation.sent_at = now
        conversation.sent_by = agent
        conversation.save(update_fields=["status", "reply_text", "sent_at", "sent_by"])
    return turn


def _record_vote(
    turn: WorkbenchTurn, conversation: Conversation, suggestion: WorkbenchSuggestion | None
) -> Vote:
    return vote_record_signal(
        campaign=conversation.campaign,
        prompt=conversation.prompt,
        kind=Vote.Kind.WORKBENCH,
        outcome=Outcome.BOTH_BAD if suggestion is None else suggestion.source,
        choice="none" if suggestion is None else str(suggestion.slot),
        source_key=f"workbench-turn:{turn.pk}",
        channel=conversation.channel or "workbench",
        rater=turn.agent,
        time_taken_ms=turn.time_to_pick_ms,
    )
