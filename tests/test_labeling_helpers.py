"""Shared builders for the labeling tests (no tests here)."""

from __future__ import annotations

from typing import Any

from evalhub.models import Label
from labeling.models import LabelingTask
from labeling.services.tasks import labeling_task_create, labeling_task_open
from tests.factories import ModelVersionFactory, OutputFactory, PromptFactory


def make_labels(*names: str) -> list[Label]:
    return [Label.objects.get_or_create(name=name)[0] for name in names]


def prompt_task(
    *,
    n: int = 6,
    k: int = 3,
    labels: tuple[str, ...] = ("billing", "shipping", "other"),
    gold: int = 0,
    open_it: bool = True,
    **options: Any,
) -> LabelingTask:
    """A labels task over ``n`` fresh prompts (+ ``gold`` gold prompts answered with labels[0])."""
    vocabulary = make_labels(*labels)
    items: list[dict[str, Any]] = [{"prompt": PromptFactory().pk} for _ in range(n)]
    items += [
        {"prompt": PromptFactory().pk, "gold_answer": {"labels": [vocabulary[0].pk]}}
        for _ in range(gold)
    ]
    task = labeling_task_create(
        name=options.pop("name", "Topic of the request"),
        item_kind="prompt",
        question_kind="labels",
        labels=vocabulary,
        k=k,
        items=items,
        **options,
    )
    return labeling_task_open(task=task) if open_it else task


def output_preference_task(*, n: int = 3, k: int = 2, **options: Any) -> LabelingTask:
    base, tuned = ModelVersionFactory(), ModelVersionFactory()
    items = []
    for _ in range(n):
        prompt = PromptFactory()
        a = OutputFactory(prompt=prompt, model_version=base)
        b = OutputFactory(prompt=prompt, model_version=tuned)
        items.append({"output": a.pk, "output_b": b.pk})
    task = labeling_task_create(
        name="Which answer is better",
        item_kind="output",
        question_kind="preference",
        k=k,
        items=items,
        **options,
    )
    return labeling_task_open(task=task)
