"""Test data built through the same models and services the product uses."""

from __future__ import annotations

import factory

from evalhub.models import Campaign, ModelVersion, Output, Prompt
from evalhub.services.campaigns import campaign_create, campaign_open


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"secret-model-{n}")


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    instruction = factory.Sequence(lambda n: f"How do I get a refund for order {n}?")
    external_id = factory.Sequence(lambda n: f"q{n}")


class OutputFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Output

    prompt = factory.SubFactory(PromptFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    text = factory.Sequence(lambda n: f"Answer number {n}.")


def open_campaign_with_outputs(
    *, n_prompts: int = 4, votes_per_prompt: int = 2, name: str = "camp", raters=None
) -> Campaign:
    base = ModelVersionFactory(name=f"{name}-base-model-XYZ")
    cand = ModelVersionFactory(name=f"{name}-finetuned-model-XYZ", parent=base, method="lora")
    prompts = [PromptFactory() for _ in range(n_prompts)]
    for prompt in prompts:
        OutputFactory(
            prompt=prompt, model_version=base, text=f"Baseline reply to {prompt.external_id}"
        )
        OutputFactory(
            prompt=prompt, model_version=cand, text=f"Candidate reply to {prompt.external_id}"
        )
    campaign = campaign_create(
        name=f"{name}: {cand.name} vs {base.name}",
        baseline=base,
        candidate=cand,
        prompts=prompts,
        votes_per_prompt=votes_per_prompt,
        guidelines="Pick the **more helpful** answer.",
        raters=raters,
    )
    campaign_open(campaign=campaign)
    campaign.refresh_from_db()
    return campaign
