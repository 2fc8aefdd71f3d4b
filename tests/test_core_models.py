"""Database invariants of the core domain hold even when a service is bypassed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from evalhub.models import Assignment, Campaign, Comparison, Output, Prompt, Vote
from evalhub.models.prompts import prompt_content_hash
from tests.factories import ModelVersionFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db


def _vote_kwargs(campaign: Campaign, **overrides):
    comparison = campaign.comparisons.first()
    base = {
        "campaign": campaign,
        "comparison": comparison,
        "prompt_id": comparison.prompt_id,
        "kind": "pairwise",
        "choice": "left",
        "candidate_side": "left",
        "outcome": "candidate",
    }
    base.update(overrides)
    return base


def test_outcome_must_match_choice_and_side(open_campaign, rater):
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(**_vote_kwargs(open_campaign, rater=rater, outcome="baseline"))
    Vote.objects.create(**_vote_kwargs(open_campaign, rater=rater))
    assert Vote.objects.count() == 1


def test_one_vote_per_rater_per_comparison(open_campaign, rater):
    Vote.objects.create(**_vote_kwargs(open_campaign, rater=rater))
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(**_vote_kwargs(open_campaign, rater=rater, choice="tie", outcome="tie"))
    assert Vote.objects.count() == 1


def test_correction_supersedes_instead_of_editing(open_campaign, rater, pm):
    from evalhub.services.rating import vote_correct

    original = Vote.objects.create(**_vote_kwargs(open_campaign, rater=rater))
    corrected = vote_correct(vote=original, choice="right", corrected_by=pm, reason="misclick")
    original.refresh_from_db()
    assert original.outcome == "candidate"  # history untouched
    assert corrected.outcome == "baseline" and corrected.supersedes_id == original.pk
    assert Vote.objects.filter(superseded_by__isnull=True).get() == corrected


def test_comparison_outputs_must_differ(open_campaign):
    comparison = open_campaign.comparisons.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Comparison.objects.create(
            campaign=open_campaign,
            prompt=comparison.prompt,
            baseline_output=comparison.baseline_output,
            candidate_output=comparison.baseline_output,
        )


def test_status_and_models_are_constrained(open_campaign):
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=open_campaign.pk).update(status="archived")
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=open_campaign.pk).update(candidate=open_campaign.baseline)


def test_assignment_once_per_rater(open_campaign, rater):
    from django.utils import timezone

    comparison = open_campaign.comparisons.first()
    now = timezone.now()
    Assignment.objects.create(
        comparison=comparison, rater=rater, candidate_side="left", served_at=now, expires_at=now
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            comparison=comparison,
            rater=rater,
            candidate_side="right",
            served_at=now,
            expires_at=now,
        )


def test_prompt_hash_is_normalized_and_unique():
    a = prompt_content_hash(instruction="Where is  my ORDER?")
    b = prompt_content_hash(instruction="  where is my order? ")
    assert a == b
    assert a != prompt_content_hash(instruction="Where is my order?", input="order 7")
    Prompt.objects.create(instruction="Where is  my ORDER?")
    with pytest.raises(IntegrityError), transaction.atomic():
        Prompt.objects.create(instruction="where is my order?")


def test_output_unique_per_sample_and_params():
    output = OutputFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Output.objects.create(
            prompt=output.prompt, model_version=output.model_version, text="again", params={}
        )
    Output.objects.create(
        prompt=output.prompt,
        model_version=output.model_version,
        text="hot",
        params={"temperature": 1},
    )
    assert Output.objects.count() == 2


def test_prompt_as_messages_orders_system_history_then_question():
    prompt = PromptFactory.build(
        instruction="Refund?", input="order 9", system="Be kind.", history=[["hi", "hello"]]
    )
    assert prompt.as_messages() == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "Refund?\n\norder 9"},
    ]


def test_model_version_clean_requires_endpoint_for_openai():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="endpoint"):
        ModelVersionFactory.build(name="x", backend="openai").clean()
