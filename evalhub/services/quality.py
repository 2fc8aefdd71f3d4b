"""Rater quality writes: gold items, attention checks, and excluding raters from reports.

- A **gold item** is an ordinary comparison of the campaign whose right answer is known
  (``Comparison.is_gold``, ``gold_kind="gold"``, ``gold_outcome``). Marking one turns every vote
  on it, past and future, into a quality check: gold votes leave the support rate.
- An **attention check** pairs a real answer to a prompt with a plainly wrong one: the other
  model's answer to a *different* prompt of the campaign, copied as an ``Output`` of the prompt
  (``params={"evalhub_check": "attention", ...}`` and a reserved ``sample_index``, so it never
  becomes the output a campaign compares or a product shows). The right answer is the real one.
  A copied answer reads like any other model answer (no fixed nonsense text a rater could learn
  to spot): only reading the prompt gives it away.
- An **exclusion** leaves a rater's votes out of a campaign's reports. Votes are never deleted;
  removing the exclusion brings them back. Every change is audited.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from evalhub.models import Campaign, Comparison, Output, RaterExclusion
from evalhub.models.campaigns import Outcome
from evalhub.selectors.quality import campaign_rater_quality, rater_quality_for
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput, NotFound

#: Copied attention-check answers sit at or above this sample index: ``campaign_open`` and the
#: choice tasks take the lowest sample index of a model's answers, so a real answer always wins.
ATTENTION_SAMPLE_INDEX = 1_000_000
ATTENTION_MARKER = "attention"
GOLD_FIELDS = ("is_gold", "gold_kind", "gold_outcome")


def _pairwise(campaign: Campaign) -> None:
    if campaign.kind != Campaign.Kind.PAIRWISE:
        raise InvalidInput("Gold items and attention checks are for pairwise campaigns.")


def comparison_mark_gold(
    *, comparison: Comparison, outcome: str, actor: AbstractBaseUser | None = None
) -> Comparison:
    """Make a comparison a gold item with the known ``outcome`` (candidate | baseline | tie |
    both_bad). Its votes, past and future, become quality checks and leave the support rate."""
    if outcome not in Outcome.values:
        raise InvalidInput(
            f"Unknown outcome {outcome!r}; use one of {', '.join(Outcome.values)}.",
            details={"field": "outcome"},
        )
    _pairwise(comparison.campaign)
    with transaction.atomic():
        locked = Comparison.objects.select_for_update().get(pk=comparison.pk)
        if locked.gold_kind == Comparison.GoldKind.ATTENTION:
            raise Conflict("This comparison is an attention check; its answer is fixed.")
        before = audit_snapshot(locked, GOLD_FIELDS)
        locked.is_gold, locked.gold_kind, locked.gold_outcome = True, "gold", outcome
        locked.save(update_fields=list(GOLD_FIELDS))
        audit_record(
            action="comparison.mark_gold",
            obj=locked,
            before=before,
            after=audit_snapshot(locked, GOLD_FIELDS),
            actor=actor,
        )
    return locked


def comparison_unmark_gold(
    *, comparison: Comparison, actor: AbstractBaseUser | None = None
) -> Comparison:
    """A gold item back to an ordinary comparison (its votes count toward the rate again).
    Attention checks cannot be unmarked: one of their answers is not a real answer."""
    with transaction.atomic():
        locked = Comparison.objects.select_for_update().get(pk=comparison.pk)
        if locked.gold_kind == Comparison.GoldKind.ATTENTION:
            raise Conflict("An attention check cannot become an ordinary comparison.")
        if not locked.is_gold:
            return locked
        before = audit_snapshot(locked, GOLD_FIELDS)
        locked.is_gold, locked.gold_kind, locked.gold_outcome = False, "", ""
        locked.save(update_fields=list(GOLD_FIELDS))
        audit_record(
            action="comparison.unmark_gold",
            obj=locked,
            before=before,
            after=audit_snapshot(locked, GOLD_FIELDS),
            actor=actor,
        )
    return locked


@dataclass(frozen=True)
class GoldMarkRow:
    """One line of a gold file: the comparison by its prompt's external id (or its public id)."""

    key: str
    outcome: str


def gold_mark_many(
    *,
    campaign: Campaign,
    rows: list[GoldMarkRow],
    actor: AbstractBaseUser | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Comparison]:
    """Mark several comparisons at once (all or nothing). A row's key is the prompt's external
    id, the prompt id, or the comparison's public id. ``progress(done, total)`` after each."""
    _pairwise(campaign)
    comparisons = Comparison.objects.filter(campaign=campaign).select_related("prompt", "campaign")
    by_key: dict[str, Comparison] = {}
    for comparison in comparisons.exclude(gold_kind=Comparison.GoldKind.ATTENTION):
        by_key.setdefault(str(comparison.public_id), comparison)
        by_key.setdefault(str(comparison.prompt_id), comparison)
        if comparison.prompt.external_id:
            by_key.setdefault(comparison.prompt.external_id, comparison)
    unknown = [row.key for row in rows if row.key not in by_key]
    if unknown:
        raise InvalidInput(
            f"{len(unknown)} rows name no comparison of this campaign, e.g. {unknown[0]!r}.",
            details={"unknown": unknown[:20]},
        )
    marked = []
    with transaction.atomic():
        for row in rows:
            marked.append(
                comparison_mark_gold(comparison=by_key[row.key], outcome=row.outcome, actor=actor)
            )
            if progress is not None:
                progress(len(marked), len(rows))
    return marked


def attention_checks_create(
    *,
    campaign: Campaign,
    count: int,
    seed: int | None = None,
    actor: AbstractBaseUser | None = None,
) -> list[Comparison]:
    """Add ``count`` attention checks, each on a different prompt of the campaign.

    For prompt P (an ordinary comparison of the campaign), one side keeps P's real answer and
    the other side gets the other model's answer to another prompt Q, copied as an output of P.
    Which side holds the real answer alternates, so the known outcome is half candidate, half
    baseline. Prompts that already carry an attention check are not used again.
    """
    _pairwise(campaign)
    if count < 1:
        raise InvalidInput("Ask for at least one attention check.", details={"field": "count"})
    rng = random.Random(seed)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        ordinary = list(
            Comparison.objects.filter(campaign=locked, is_gold=False)
            .select_related("prompt", "baseline_output", "candidate_output")
            .order_by("id")
        )
        taken = set(
            Comparison.objects.filter(
                campaign=locked, gold_kind=Comparison.GoldKind.ATTENTION
            ).values_list("prompt_id", flat=True)
        )
        hosts = [c for c in ordinary if c.prompt_id not in taken]
        if len({c.prompt.content_hash or c.prompt_id for c in ordinary}) < 2:
            raise Conflict("Attention checks need at least two different prompts in the campaign.")
        if count > len(hosts):
            raise Conflict(
                f"Only {len(hosts)} prompts of this campaign can take a new attention check.",
                details={"available": len(hosts)},
            )
        rng.shuffle(hosts)
        already = len(taken)
        created = [
            _attention_check(campaign=locked, host=host, donors=ordinary, rng=rng, flip=i % 2 == 1)
            for i, host in enumerate(hosts[:count], start=already)
        ]
        audit_record(
            action="campaign.attention_checks",
            obj=locked,
            note=f"{len(created)} attention checks added ({already + len(created)} in all)",
            actor=actor,
        )
    return created


def _attention_check(
    *,
    campaign: Campaign,
    host: Comparison,
    donors: list[Comparison],
    rng: random.Random,
    flip: bool,
) -> Comparison:
    unrelated = [
        c
        for c in donors
        if c.prompt_id != host.prompt_id
        and (not c.prompt.content_hash or c.prompt.content_hash != host.prompt.content_hash)
    ]
    donor = rng.choice(unrelated)
    # The decoy takes the side of the model whose answer it copies: real candidate vs the
    # baseline's answer to another prompt, or (flip) real baseline vs the candidate's.
    copied = donor.candidate_output if flip else donor.baseline_output
    decoy = _decoy_output(prompt_id=host.prompt_id, copied=copied)
    real_baseline, real_candidate = host.baseline_output_id, host.candidate_output_id
    comparison = Comparison(
        campaign=campaign,
        prompt_id=host.prompt_id,
        baseline_output_id=real_baseline if flip else decoy.pk,
        candidate_output_id=decoy.pk if flip else real_candidate,
        is_gold=True,
        gold_kind=Comparison.GoldKind.ATTENTION,
        gold_outcome=Outcome.BASELINE if flip else Outcome.CANDIDATE,
    )
    comparison.clean()  # both outputs answer the comparison's prompt
    comparison.save()
    return comparison


def _decoy_output(*, prompt_id: int, copied: Output) -> Output:
    top = Output.objects.filter(
        prompt_id=prompt_id,
        model_version_id=copied.model_version_id,
        sample_index__gte=ATTENTION_SAMPLE_INDEX,
    ).aggregate(top=Max("sample_index"))["top"]
    return Output.objects.create(
        prompt_id=prompt_id,
        model_version_id=copied.model_version_id,
        text=copied.text,
        sample_index=ATTENTION_SAMPLE_INDEX if top is None else top + 1,
        params={"evalhub_check": ATTENTION_MARKER, "copied_from_output": copied.pk},
        origin=Output.Origin.IMPORTED,
    )


def rater_exclude(
    *,
    campaign: Campaign,
    rater: AbstractBaseUser,
    reason: str = "",
    actor: AbstractBaseUser | None = None,
) -> RaterExclusion:
    """Leave the rater's votes out of the campaign's reports (idempotent: an existing exclusion
    is returned as it is). The rater's check accuracy at this moment is kept with it."""
    row = rater_quality_for(campaign=campaign, rater_id=rater.pk)
    with transaction.atomic():
        exclusion, created = RaterExclusion.objects.get_or_create(
            campaign=campaign,
            rater=rater,
            defaults={
                "reason": (reason or "").strip()[:2000],
                "gold_accuracy": row.accuracy if row else None,
                "gold_answers": row.answered if row else 0,
                "excluded_by": actor if getattr(actor, "is_authenticated", False) else None,
            },
        )
        if created:
            audit_record(
                action="campaign.rater_exclude",
                obj=campaign,
                before={"excluded_rater": None},
                after={"excluded_rater": rater.get_username(), "reason": exclusion.reason},
                note=f"rater {rater.get_username()} excluded from the reports",
                actor=actor,
            )
    return exclusion


def rater_include(
    *, campaign: Campaign, rater: AbstractBaseUser, actor: AbstractBaseUser | None = None
) -> None:
    """Bring an excluded rater's votes back into the reports; NotFound when not excluded."""
    with transaction.atomic():
        exclusion = (
            RaterExclusion.objects.select_for_update()
            .filter(campaign=campaign, rater=rater)
            .first()
        )
        if exclusion is None:
            raise NotFound("This rater is not excluded from this campaign.")
        exclusion.delete()
        audit_record(
            action="campaign.rater_include",
            obj=campaign,
            before={"excluded_rater": rater.get_username(), "reason": exclusion.reason},
            after={"excluded_rater": None},
            note=f"rater {rater.get_username()} back in the reports",
            actor=actor,
        )


def raters_exclude_flagged(
    *, campaign: Campaign, reason: str = "", actor: AbstractBaseUser | None = None
) -> list[RaterExclusion]:
    """Exclude every rater the quality checks flag and who is not excluded yet."""
    flagged = [r.rater_id for r in campaign_rater_quality(campaign=campaign) if r.flagged]
    users = (
        get_user_model()
        .objects.filter(pk__in=flagged)
        .exclude(campaign_exclusions__campaign=campaign)
    )
    note = reason or "flagged by the quality checks"
    with transaction.atomic():
        return [
            rater_exclude(campaign=campaign, rater=user, reason=note, actor=actor)
            for user in users.order_by("pk")
        ]
