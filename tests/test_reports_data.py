"""Vote data with known outcomes for the report and dashboard tests (helpers only, no tests).

Votes are created as rows, the way imports and the rating service store them: the choice is
derived from the outcome and the side the candidate was shown on, so the database check
``vote_outcome_matches_choice`` holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from evalhub.models import Campaign, Label, Vote
from tests.factories import open_campaign_with_outputs

OUTCOME_CODE = {"candidate": 0, "baseline": 1, "tie": 2, "both_bad": 3}


def choice_for(outcome: str, candidate_side: str) -> str:
    if outcome in ("tie", "both_bad"):
        return outcome
    other = "right" if candidate_side == "left" else "left"
    return candidate_side if outcome == "candidate" else other


def make_campaign(name: str = "camp", n_prompts: int = 4) -> Campaign:
    return open_campaign_with_outputs(n_prompts=n_prompts, votes_per_prompt=3, name=name)


def add_votes(
    campaign: Campaign,
    outcomes: Sequence[Sequence[str]],
    *,
    raters: Sequence | None = None,
    judges: Sequence[str] | None = None,
    sides: Sequence[Sequence[str]] | None = None,
    channel: str = "rating",
    simulated: bool = False,
    created_at: datetime | None = None,
    time_taken_ms: int | None = None,
) -> list[Vote]:
    """``outcomes[j]`` are the votes on the campaign's j-th comparison (by prompt id).

    The k-th vote on every comparison comes from ``raters[k]`` (users) or ``judges[k]``
    (external judges; default ``judge-k``). The candidate alternates sides unless ``sides`` says.
    """
    comparisons = list(campaign.comparisons.order_by("prompt_id"))
    votes = []
    for j, (comparison, prompt_outcomes) in enumerate(zip(comparisons, outcomes, strict=False)):
        for k, outcome in enumerate(prompt_outcomes):
            side = sides[j][k] if sides else ("left" if (j + k) % 2 == 0 else "right")
            votes.append(
                Vote(
                    campaign=campaign,
                    comparison=comparison,
                    prompt_id=comparison.prompt_id,
                    rater=raters[k] if raters else None,
                    judge="" if raters else (judges[k] if judges else f"judge-{k}"),
                    kind=Vote.Kind.PAIRWISE,
                    channel=channel,
                    choice=choice_for(outcome, side),
                    candidate_side=side,
                    outcome=outcome,
                    is_simulated=simulated,
                    time_taken_ms=time_taken_ms,
                )
            )
    created = Vote.objects.bulk_create(votes)
    if created_at is not None:
        Vote.objects.filter(pk__in=[v.pk for v in created]).update(created_at=created_at)
    return created


def per_prompt_counts(outcomes: Sequence[Sequence[str]]) -> np.ndarray:
    """(prompts, 4) W, L, T, B counts of an ``outcomes`` plan, prompts in order."""
    counts = np.zeros((len(outcomes), 4), dtype=np.int64)
    for j, prompt_outcomes in enumerate(outcomes):
        for outcome in prompt_outcomes:
            counts[j, OUTCOME_CODE[outcome]] += 1
    return counts


def label_prompts(campaign: Campaign, names_per_prompt: Sequence[Sequence[str]]) -> None:
    """Attach labels (created on demand) to the campaign's prompts, in prompt-id order."""
    prompts = list(campaign.prompts.order_by("id"))
    for prompt, names in zip(prompts, names_per_prompt, strict=False):
        prompt.labels.add(*[Label.objects.get_or_create(name=name)[0] for name in names])


def campaign_between(baseline, candidate, name: str, n_prompts: int) -> Campaign:
    """An open campaign of ``candidate`` against ``baseline`` over fresh prompts with outputs."""
    from evalhub.models import Output, Prompt
    from evalhub.services.campaigns import campaign_create, campaign_open

    prompts = []
    for j in range(n_prompts):
        prompt = Prompt.objects.create(instruction=f"{name}: customer question {j}")
        Output.objects.create(prompt=prompt, model_version=baseline, text=f"Baseline answer {j}")
        Output.objects.create(prompt=prompt, model_version=candidate, text=f"Candidate answer {j}")
        prompts.append(prompt)
    campaign = campaign_create(name=name, baseline=baseline, candidate=candidate, prompts=prompts)
    campaign_open(campaign=campaign)
    return campaign


def random_plan(
    rng: np.random.Generator, n_prompts: int, votes: int, support: float, tie_rate: float = 0.12
) -> list[list[str]]:
    """Outcomes for ``votes`` votes per prompt; prompts vary around ``support`` (clustered)."""
    plan = []
    for _ in range(n_prompts):
        p = float(np.clip(rng.normal(support, 0.12), 0.02, 0.98))
        row = []
        for _ in range(votes):
            u = rng.random()
            if u < tie_rate:
                row.append("tie")
            elif u < tie_rate + 0.03:
                row.append("both_bad")
            else:
                row.append("candidate" if rng.random() < p else "baseline")
        plan.append(row)
    return plan
