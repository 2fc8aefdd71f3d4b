"""Campaign lifecycle: create -> (generating) -> open -> closed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from evalhub.models import Campaign, Comparison, ModelVersion, Output, Prompt
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import Conflict, InvalidInput

LIFECYCLE_FIELDS = ("status", "opened_at", "closed_at")
OPENABLE_FROM = {Campaign.Status.DRAFT, Campaign.Status.GENERATING, Campaign.Status.CLOSED}


@dataclass(frozen=True)
class MissingOutput:
    prompt_id: int
    external_id: str | None
    missing: tuple[str, ...]  # "baseline" and/or "candidate"


@dataclass(frozen=True)
class CampaignOpenResult:
    campaign: Campaign
    comparisons_created: int
    comparisons_total: int
    missing: list[MissingOutput] = field(default_factory=list)


def campaign_create(
    *,
    name: str,
    baseline: ModelVersion,
    candidate: ModelVersion,
    prompts: Iterable[Prompt] | None = None,
    votes_per_prompt: int = 3,
    kind: str = Campaign.Kind.PAIRWISE,
    tie_policy: str = Campaign.TiePolicy.EXCLUDE,
    guidelines: str = "",
    rater_title: str = "",
    raters: Iterable[AbstractBaseUser] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> Campaign:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A campaign needs a name.", details={"field": "name"})
    if baseline.pk == candidate.pk:
        raise InvalidInput(
            "Baseline and candidate must be different model versions.",
            details={"field": "candidate"},
        )
    if votes_per_prompt < 1:
        raise InvalidInput(
            "votes_per_prompt must be at least 1.", details={"field": "votes_per_prompt"}
        )
    if kind not in Campaign.Kind.values:
        raise InvalidInput(f"Unknown campaign kind {kind!r}.", details={"field": "kind"})
    if tie_policy not in Campaign.TiePolicy.values:
        raise InvalidInput(f"Unknown tie policy {tie_policy!r}.", details={"field": "tie_policy"})
    if Campaign.objects.filter(name=name).exists():
        raise Conflict(f"A campaign named {name!r} already exists.", details={"field": "name"})
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            baseline=baseline,
            candidate=candidate,
            votes_per_prompt=votes_per_prompt,
            kind=kind,
            tie_policy=tie_policy,
            guidelines=guidelines,
            rater_title=rater_title,
            created_by=created_by,
        )
        if prompts is not None:
            campaign.prompts.set(prompts)
        if raters is not None:
            campaign.raters.set(raters)
        audit_record(
            action="campaign.create",
            obj=campaign,
            after=audit_snapshot(campaign),
            note=f"{campaign.prompts.count()} prompts, {campaign.raters.count()} raters in the pool",
            actor=created_by,
        )
    return campaign


def campaign_add_prompts(*, campaign: Campaign, prompts: Iterable[Prompt]) -> int:
    before = campaign.prompts.count()
    campaign.prompts.add(*prompts)
    return campaign.prompts.count() - before


def _first_outputs(model_version_id: int, prompt_ids: list[int]) -> dict[int, int]:
    """prompt id -> the output id to compare (the lowest sample index, then the oldest)."""
    chosen: dict[int, int] = {}
    rows = (
        Output.objects.filter(model_version_id=model_version_id, prompt_id__in=prompt_ids)
        .order_by("prompt_id", "sample_index", "id")
        .values_list("prompt_id", "id")
    )
    for prompt_id, output_id in rows.iterator(chunk_size=5000):
        chosen.setdefault(prompt_id, output_id)
    return chosen


def campaign_open(
    *, campaign: Campaign, allowed_from: frozenset[str] | set[str] | None = None
) -> CampaignOpenResult:
    """Build a comparison for every prompt that has both outputs; report the prompts that don't.

    Opening an open campaign again adds comparisons for outputs that arrived since. The campaign
    row is locked, so concurrent opens (a double click, a finishing generation job) serialize.
    ``allowed_from`` narrows the statuses it may open from: a generation job passes
    {draft, generating, open} so a campaign someone closed meanwhile stays closed.
    """
    allowed = (
        set(allowed_from) if allowed_from is not None else OPENABLE_FROM | {Campaign.Status.OPEN}
    )
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in allowed:
            raise Conflict(
                f"Campaign {locked.name!r} cannot be opened from status {locked.status}."
            )
        prompt_rows = list(locked.prompts.order_by("id").values_list("id", "external_id"))
        prompt_ids = [pid for pid, _ in prompt_rows]
        baseline = _first_outputs(locked.baseline_id, prompt_ids)
        candidate = _first_outputs(locked.candidate_id, prompt_ids)
        existing = set(locked.comparisons.values_list("prompt_id", flat=True))
        missing: list[MissingOutput] = []
        new: list[Comparison] = []
        for prompt_id, external_id in prompt_rows:
            absent = tuple(
                side
                for side, table in (("baseline", baseline), ("candidate", candidate))
                if prompt_id not in table
            )
            if absent:
                missing.append(MissingOutput(prompt_id, external_id, absent))
            elif prompt_id not in existing:
                new.append(
                    Comparison(
                        campaign=locked,
                        prompt_id=prompt_id,
                        baseline_output_id=baseline[prompt_id],
                        candidate_output_id=candidate[prompt_id],
                    )
                )
        Comparison.objects.bulk_create(new, batch_size=2000)
        before = audit_snapshot(locked, LIFECYCLE_FIELDS)
        locked.status = Campaign.Status.OPEN
        locked.opened_at = locked.opened_at or timezone.now()
        locked.closed_at = None
        locked.save(update_fields=["status", "opened_at", "closed_at"])
        audit_record(
            action="campaign.open",
            obj=locked,
            before=before,
            after=audit_snapshot(locked, LIFECYCLE_FIELDS),
            note=f"{len(new)} comparisons created, {len(existing) + len(new)} in all, "
            f"{len(missing)} prompts missing an output",
        )
    for name in ("status", "opened_at", "closed_at"):
        setattr(campaign, name, getattr(locked, name))
    return CampaignOpenResult(
        campaign=campaign,
        comparisons_created=len(new),
        comparisons_total=len(existing) + len(new),
        missing=missing,
    )


def campaign_close(*, campaign: Campaign) -> Campaign:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status == Campaign.Status.CLOSED:
            raise Conflict(f"Campaign {locked.name!r} is already closed.")
        before = audit_snapshot(locked, LIFECYCLE_FIELDS)
        locked.status = Campaign.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at"])
        audit_record(
            action="campaign.close",
            obj=locked,
            before=before,
            after=audit_snapshot(locked, LIFECYCLE_FIELDS),
        )
    campaign.status, campaign.closed_at = locked.status, locked.closed_at
    return campaign


def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    """Move to draft or generating (used by the generation job)."""
    if status not in (Campaign.Status.DRAFT, Campaign.Status.GENERATING):
        raise InvalidInput("Use campaign_open / campaign_close for those transitions.")
    campaign.status = status
    campaign.save(update_fields=["status"])
    return campaign
