"""The rater's day: serve the next comparison, record a vote, skip, free abandoned reservations.

Gold items and attention checks (``Comparison.is_gold``) are mixed in at random, at about the
campaign's ``gold_share`` of what each rater is served, while real work is left for them. Each
rater gets each check at most once; checks have no vote cap (every rater should answer them)
and never take a prompt the rater has already been shown. Nothing a rater receives tells a
check from an ordinary comparison: same payload, same side alternation, same code path.

Concurrency: a comparison's ``load`` (votes + live reservations) is only changed while its row is
locked (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes writers through
IMMEDIATE transactions), so two raters never take the last vote slot of the same comparison.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from evalhub.models import Assignment, Campaign, Comparison, Vote
from evalhub.models.campaigns import Choice, Outcome, Side
from evalhub.roles import has_perm_cached
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound

# Expired reservations are swept at most this often per process while the queue still has work
# (always when it looks empty), so the hot path pays no sweep query.
EXPIRY_SWEEP_SECONDS = 15.0
_last_sweep: dict[int, float] = {}


def rater_can_rate(*, rater: AbstractBaseUser, campaign: Campaign) -> bool:
    """Rater role, and in the campaign's pool when it has one. Uses the ``has_pool`` /
    ``in_pool`` annotations of ``campaign_get_for_rating`` when present (no extra query)."""
    if not has_perm_cached(rater, "evalhub.rate_campaign"):
        return False
    has_pool = getattr(campaign, "has_pool", None)
    if has_pool is None:
        pool = campaign.raters.all()
        return not pool.exists() or pool.filter(pk=rater.pk).exists()
    return not has_pool or bool(campaign.in_pool)


def outcome_for(*, choice: str, candidate_side: str) -> str:
    """The outcome a choice means, given where the candidate was shown. Fixed at write time."""
    if choice == Choice.TIE:
        return Outcome.TIE
    if choice == Choice.BOTH_BAD:
        return Outcome.BOTH_BAD
    if choice not in (Choice.LEFT, Choice.RIGHT):
        raise InvalidInput(
            f"Unknown choice {choice!r}; use one of left, right, tie, both_bad.",
            details={"field": "choice"},
        )
    return Outcome.CANDIDATE if choice == candidate_side else Outcome.BASELINE


def _lock(queryset):  # type: ignore[no-untyped-def]
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def assignments_release_expired(
    *, campaign: Campaign | None = None, now: datetime | None = None
) -> int:
    """Free the vote slots of reservations whose time ran out; returns how many were freed.

    Locks the expired assignments (SKIP LOCKED: a concurrent sweep takes others), marks them in
    one statement, then gives the slots back per comparison in id order, so two sweeps never
    wait on each other's comparison rows in opposite orders (no deadlock).
    """
    now = now or timezone.now()
    expired = Assignment.objects.filter(status=Assignment.Status.SERVED, expires_at__lt=now)
    if campaign is not None:
        expired = expired.filter(comparison__campaign=campaign)
    with transaction.atomic():
        rows = list(_lock(expired.order_by("id")).values_list("id", "comparison_id")[:500])
        if not rows:
            return 0
        Assignment.objects.filter(
            id__in=[a for a, _ in rows], status=Assignment.Status.SERVED
        ).update(status=Assignment.Status.EXPIRED, finished_at=now)
        for comparison_id, n in sorted(Counter(c for _, c in rows).items()):
            Comparison.objects.filter(pk=comparison_id).update(load=Greatest(F("load") - n, 0))
    return len(rows)


def _sweep_due(key: int) -> bool:
    if time.monotonic() - _last_sweep.get(key, 0.0) > EXPIRY_SWEEP_SECONDS:
        _last_sweep[key] = time.monotonic()
        return True
    return False


def assignments_sweep_if_due(*, campaign: Campaign | None = None) -> int:
    """The throttled sweep for pages and the worker (at most every EXPIRY_SWEEP_SECONDS)."""
    if _sweep_due(campaign.pk if campaign is not None else 0):
        return assignments_release_expired(campaign=campaign)
    return 0


def assignment_next(
    *,
    campaign: Campaign,
    rater: AbstractBaseUser,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Assignment | None:
    """The next comparison for this rater, or None when nothing is left for them.

    The rater's live reservation in this campaign comes back first (a reload shows the same
    pair). Otherwise: the least-loaded comparison this rater has never been served, with the
    candidate's side alternating per comparison from a random start (balanced over raters).
    Someone else's campaign looks missing (404) before anything else is told about it.
    """
    if not rater_can_rate(rater=rater, campaign=campaign):
        raise NotFound("No such campaign for you.", code="not_found")
    if campaign.kind != Campaign.Kind.PAIRWISE:
        raise NotFound("This campaign is not rated pairwise.", code="not_found")
    if campaign.status != Campaign.Status.OPEN:
        raise Conflict("This campaign is not open for rating.", code="campaign_not_open")
    now = now or timezone.now()
    live = (
        Assignment.objects.filter(
            rater=rater,
            comparison__campaign=campaign,
            status=Assignment.Status.SERVED,
            expires_at__gt=now,
        )
        .select_related(
            "comparison__prompt", "comparison__baseline_output", "comparison__candidate_output"
        )
        .order_by("served_at")
        .first()
    )
    if live is not None:
        return live
    if _sweep_due(campaign.pk):
        assignments_release_expired(campaign=campaign, now=now)
    wants_gold = campaign.gold_share > 0 and (rng or _system_rng).random() < campaign.gold_share
    assignment = _reserve(campaign=campaign, rater=rater, now=now, gold=wants_gold)
    if assignment is None and assignments_release_expired(campaign=campaign, now=now):
        assignment = _reserve(campaign=campaign, rater=rater, now=now, gold=wants_gold)
    return assignment


_system_rng = random.SystemRandom()


def _queue(*, campaign: Campaign, rater: AbstractBaseUser) -> QuerySet[Comparison]:
    return (
        Comparison.objects.filter(
            campaign=campaign, load__lt=campaign.votes_per_prompt, is_gold=False
        )
        .exclude(assignments__rater=rater)
        .select_related("prompt", "baseline_output", "candidate_output")
        .order_by("load", "shuffle_key")
    )


def _pick(*, campaign: Campaign, rater: AbstractBaseUser) -> Comparison | None:
    """Lock the least-loaded open comparison for this rater.

    PostgreSQL: SKIP LOCKED first, so raters spread over equally-loaded rows without waiting.
    SKIP LOCKED also skips rows whose only sin is that another rater is reserving them right
    now; so when it finds nothing but open rows exist, wait for the lock instead (PostgreSQL
    re-checks ``load < cap`` on the locked row and moves on if it filled up): a rater is never
    told "nothing left" while slots remain. SQLite serializes writers, so a plain read is safe.
    """
    if not connection.features.has_select_for_update_skip_locked:
        return _queue(campaign=campaign, rater=rater).first()
    comparison = (
        _queue(campaign=campaign, rater=rater)
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )
    if comparison is None and _queue(campaign=campaign, rater=rater).exists():
        comparison = _queue(campaign=campaign, rater=rater).select_for_update(of=("self",)).first()
    return comparison


def _pick_gold(*, campaign: Campaign, rater: AbstractBaseUser) -> Comparison | None:
    """The least-served check this rater has not seen, on a prompt they have not been shown,
    while real work is left for them (checks are never all a rater gets).

    Only this one comparison row is locked in the transaction (as on the real path), so the
    expiry sweep, which updates comparison rows in id order, can never wait on us in a cycle.
    """
    if not _queue(campaign=campaign, rater=rater).exists():
        return None
    seen_prompts = Assignment.objects.filter(rater=rater, comparison__campaign=campaign).values(
        "comparison__prompt_id"
    )
    checks = (
        Comparison.objects.filter(campaign=campaign, is_gold=True)
        .exclude(prompt_id__in=seen_prompts)
        .select_related("prompt", "baseline_output", "candidate_output")
        .order_by("load", "shuffle_key")
    )
    if connection.features.has_select_for_update_skip_locked:
        checks = checks.select_for_update(skip_locked=True, of=("self",))
    return checks.first()


def _reserve(
    *, campaign: Campaign, rater: AbstractBaseUser, now: datetime, gold: bool = False
) -> Assignment | None:
    ttl = timedelta(seconds=settings.EVALHUB_ASSIGNMENT_TTL_SECONDS)
    try:
        with transaction.atomic():
            comparison = _pick_gold(campaign=campaign, rater=rater) if gold else None
            if comparison is None:
                comparison = _pick(campaign=campaign, rater=rater)
            if comparison is None:
                return None
            served_before = comparison.served_count
            Comparison.objects.filter(pk=comparison.pk).update(
                load=F("load") + 1, served_count=F("served_count") + 1
            )
            left_is_candidate = (comparison.side_seed + served_before) % 2 == 0
            return Assignment.objects.create(
                comparison=comparison,
                rater=rater,
                candidate_side=Side.LEFT if left_is_candidate else Side.RIGHT,
                served_at=now,
                expires_at=now + ttl,
            )
    except IntegrityError:
        # The same rater in two tabs raced for the same comparison: the other tab won; serve
        # that reservation (the unique constraint kept the data right).
        return (
            Assignment.objects.filter(
                rater=rater, comparison__campaign=campaign, status=Assignment.Status.SERVED
            )
            .select_related(
                "comparison__prompt", "comparison__baseline_output", "comparison__candidate_output"
            )
            .order_by("-served_at")
            .first()
        )


def _assignment_for_update(*, rater: AbstractBaseUser, token: str) -> Assignment:
    # The campaign's pool facts come in the same query (vote_record re-checks the pool).
    pool = Campaign.raters.through.objects.filter(campaign_id=OuterRef("comparison__campaign_id"))
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("comparison__campaign")
        .annotate(has_pool=Exists(pool), in_pool=Exists(pool.filter(user_id=rater.pk)))
        .filter(token=token, rater=rater)
        .first()
        if token
        else None
    )
    if assignment is None:
        raise NotFound(
            "No such assignment for you (unknown token, or not yours).", code="unknown_token"
        )
    campaign = assignment.comparison.campaign
    campaign.has_pool, campaign.in_pool = assignment.has_pool, assignment.in_pool
    return assignment


def vote_record(
    *,
    rater: AbstractBaseUser,
    token: str,
    choice: str,
    reason: str = "",
    idempotency_key: str = "",
    channel: str = "rating",
    is_simulated: bool = False,
    now: datetime | None = None,
) -> Vote:
    """Record a rater's blind vote on the assignment behind ``token``; exactly once.

    ``is_simulated`` marks a vote cast by a program standing in for a person (the demo's
    simulated raters): stored, labelled as such, and left out wherever people's votes are asked
    for. Never set from the rater API."""
    now = now or timezone.now()
    if choice not in Choice.values:
        raise InvalidInput(
            f"Unknown choice {choice!r}; use one of left, right, tie, both_bad.",
            details={"field": "choice"},
        )
    reason = (reason or "").strip()
    if len(reason) > 5000:
        raise InvalidInput(
            "The reason is too long (5000 characters at most).", details={"field": "reason"}
        )
    with transaction.atomic():
        assignment = _assignment_for_update(rater=rater, token=token)
        if assignment.status == Assignment.Status.VOTED:
            raise Conflict("You already voted on this comparison.", code="already_voted")
        if assignment.status == Assignment.Status.SKIPPED:
            raise Conflict("You skipped this comparison.", code="skipped")
        if assignment.status == Assignment.Status.EXPIRED or assignment.expires_at <= now:
            raise Gone("This assignment expired; ask for the next one.", code="expired")
        comparison = assignment.comparison
        if not rater_can_rate(rater=rater, campaign=comparison.campaign):
            raise Forbidden("You are no longer a rater of this campaign.")
        if comparison.campaign.status != Campaign.Status.OPEN:
            raise Conflict("This campaign is closed.", code="campaign_not_open")
        vote = Vote.objects.create(
            campaign_id=comparison.campaign_id,
            comparison=comparison,
            prompt_id=comparison.prompt_id,
            assignment=assignment,
            rater=rater,
            kind=Vote.Kind.PAIRWISE,
            channel=channel,
            choice=choice,
            candidate_side=assignment.candidate_side,
            outcome=outcome_for(choice=choice, candidate_side=assignment.candidate_side),
            reason=reason,
            time_taken_ms=max(0, int((now - assignment.served_at).total_seconds() * 1000)),
            idempotency_key=idempotency_key[:200],
            is_simulated=is_simulated,
        )
        assignment.status = Assignment.Status.VOTED
        assignment.finished_at = now
        assignment.save(update_fields=["status", "finished_at"])
        Comparison.objects.filter(pk=comparison.pk).update(vote_count=F("vote_count") + 1)
    return vote


def assignment_skip(
    *, rater: AbstractBaseUser, token: str, now: datetime | None = None
) -> Assignment:
    """Give the comparison back (its slot goes to another rater); this rater won't see it again."""
    now = now or timezone.now()
    with transaction.atomic():
        assignment = _assignment_for_update(rater=rater, token=token)
        if assignment.status != Assignment.Status.SERVED:
            raise Conflict(
                f"This assignment is already {assignment.status}.", code=assignment.status
            )
        assignment.status = Assignment.Status.SKIPPED
        assignment.finished_at = now
        assignment.save(update_fields=["status", "finished_at"])
        Comparison.objects.filter(pk=assignment.comparison_id, load__gt=0).update(
            load=F("load") - 1
        )
    return assignment


def vote_correct(
    *, vote: Vote, choice: str, corrected_by: AbstractBaseUser, reason: str = ""
) -> Vote:
    """A correction is a new vote that supersedes the old one; the old one stays as history."""
    if vote.kind != Vote.Kind.PAIRWISE:
        raise InvalidInput("Only pairwise votes can be corrected here.")
    with transaction.atomic():
        current = Vote.objects.select_for_update().get(pk=vote.pk)
        if Vote.objects.filter(supersedes=current).exists():
            raise Conflict("This vote was already corrected; correct the newest record.")
        correction = Vote.objects.create(
            campaign_id=current.campaign_id,
            comparison_id=current.comparison_id,
            prompt_id=current.prompt_id,
            rater_id=current.rater_id,
            judge=current.judge,
            kind=current.kind,
            channel=current.channel,
            choice=choice,
            candidate_side=current.candidate_side,
            outcome=outcome_for(choice=choice, candidate_side=current.candidate_side),
            reason=reason or current.reason,
            time_taken_ms=current.time_taken_ms,
            supersedes=current,
            corrected_by=corrected_by,
            is_simulated=current.is_simulated,
        )
        fields = ("choice", "outcome", "reason")
        audit_record(
            action="vote.correct",
            obj=correction,
            before={"vote_id": current.pk, **audit_snapshot(current, fields)},
            after={"vote_id": correction.pk, **audit_snapshot(correction, fields)},
            note=f"vote {current.pk} superseded by vote {correction.pk}",
            actor=corrected_by,
        )
        return correction
