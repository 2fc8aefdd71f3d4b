"""Data for the training tests (helpers only, no tests): campaigns with votes, feedback records.

Votes are rows as the rating service and imports store them (choice consistent with outcome and
side); feedback records go through the feedback models the way its services write them.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.utils import timezone

from evalhub.models import Campaign, Label, ModelVersion, Output, Prompt, Vote
from evalhub.services.campaigns import campaign_create, campaign_open


def choice_for(outcome: str, candidate_side: str) -> str:
    if outcome in ("tie", "both_bad"):
        return outcome
    other = "right" if candidate_side == "left" else "left"
    return candidate_side if outcome == "candidate" else other


def raters(n: int) -> list:
    users = get_user_model()
    return [users.objects.get_or_create(username=f"train-rater-{k}")[0] for k in range(n)]


def campaign_with_texts(
    name: str,
    texts: Sequence[tuple[str, str, str]],
    *,
    labels: Sequence[str | None] | None = None,
    baseline: ModelVersion | None = None,
    candidate: ModelVersion | None = None,
) -> Campaign:
    """An open pairwise campaign: one prompt per (instruction, baseline answer, candidate answer)."""
    baseline = baseline or ModelVersion.objects.create(name=f"{name}-base")
    candidate = candidate or ModelVersion.objects.create(
        name=f"{name}-cand", parent=baseline, method="lora"
    )
    prompts = []
    for i, (instruction, base_text, cand_text) in enumerate(texts):
        prompt, _ = Prompt.objects.get_or_create(
            content_hash=Prompt(instruction=instruction).compute_hash(),
            defaults={"instruction": instruction, "external_id": f"{name}-{i}"},
        )
        label = (labels or [None] * len(texts))[i]
        if label:
            prompt.labels.add(Label.objects.get_or_create(name=label)[0])
        Output.objects.get_or_create(
            prompt=prompt, model_version=baseline, defaults={"text": base_text}
        )
        Output.objects.get_or_create(
            prompt=prompt, model_version=candidate, defaults={"text": cand_text}
        )
        prompts.append(prompt)
    campaign = campaign_create(name=name, baseline=baseline, candidate=candidate, prompts=prompts)
    campaign_open(campaign=campaign)
    return campaign


def add_votes(
    campaign: Campaign,
    outcomes: Sequence[Sequence[str]],
    *,
    simulated: bool = False,
    first_rater: int = 0,
) -> list[Vote]:
    """``outcomes[j]``: the votes on the j-th comparison (by prompt id), one rater each
    (raters ``first_rater``, ``first_rater + 1``, ...)."""
    comparisons = list(campaign.comparisons.order_by("prompt_id"))
    users = raters(first_rater + max((len(o) for o in outcomes), default=0))[first_rater:]
    votes = []
    for j, (comparison, prompt_outcomes) in enumerate(zip(comparisons, outcomes, strict=False)):
        for k, outcome in enumerate(prompt_outcomes):
            side = "left" if (j + k) % 2 == 0 else "right"
            votes.append(
                Vote(
                    campaign=campaign,
                    comparison=comparison,
                    prompt_id=comparison.prompt_id,
                    rater=users[k],
                    kind=Vote.Kind.PAIRWISE,
                    choice=choice_for(outcome, side),
                    candidate_side=side,
                    outcome=outcome,
                    is_simulated=simulated,
                )
            )
    return Vote.objects.bulk_create(votes)


def correct_vote(vote: Vote, outcome: str) -> Vote:
    """A correction: a new vote that supersedes ``vote``."""
    side = vote.candidate_side
    return Vote.objects.create(
        campaign=vote.campaign,
        comparison=vote.comparison,
        prompt=vote.prompt,
        rater=vote.rater,
        kind=vote.kind,
        choice=choice_for(outcome, side),
        candidate_side=side,
        outcome=outcome,
        supersedes=vote,
        created_at=timezone.now(),
    )
