"""How labeling holds up on a big task: 5,000 items x k=3 (15,000 labels). Prints the timings
(run with -s); the bounds are generous, they catch a per-row loop, not a slow machine."""

from __future__ import annotations

import time

import numpy as np
import pytest
from django.utils import timezone

from evalhub.models import Prompt
from evalhub.models.prompts import prompt_content_hash
from labeling.models import Annotation, TaskItem
from labeling.selectors import task_alpha, task_item_outcomes
from labeling.services.annotations import annotation_submit
from labeling.services.reviews import spot_check_batch_create
from labeling.services.serving import item_next
from labeling.services.tasks import labeling_task_create, labeling_task_open
from tests.test_labeling_helpers import make_labels

pytestmark = pytest.mark.django_db

N_ITEMS, K = 5000, 3


def test_serving_consensus_and_sampling_on_a_big_task(make_user, capsys):
    labels = make_labels("billing", "shipping", "other")
    prompts = Prompt.objects.bulk_create(
        Prompt(instruction=f"speed prompt {i}", content_hash=prompt_content_hash(
            instruction=f"speed prompt {i}")) for i in range(N_ITEMS)
    )  # fmt: skip
    task = labeling_task_create(name="speed", item_kind="prompt", question_kind="labels",
                                labels=labels, k=K, batch_size=20)  # fmt: skip
    TaskItem.objects.bulk_create(
        TaskItem(task=task, prompt=p, position=i) for i, p in enumerate(prompts)
    )
    task = labeling_task_open(task=task)
    users = [make_user(f"speed-{i}", "rater") for i in range(K + 1)]
    rng = np.random.default_rng(0)
    items = list(TaskItem.objects.filter(task=task).order_by("id"))
    picks = rng.choice([lab.pk for lab in labels], size=(len(items) - 200, K), p=[0.8, 0.1, 0.1])
    Annotation.objects.bulk_create(
        Annotation(item=item, labeler=users[j], value={"labels": [int(picks[i, j])]},
                   created_at=timezone.now())
        for i, item in enumerate(items[:-200]) for j in range(K)
    )  # fmt: skip

    started = time.perf_counter()
    served = 0
    while served < 40 and (item := item_next(task=task, labeler=users[K])) is not None:
        annotation_submit(item=item, labeler=users[K], value={"labels": [labels[0].pk]})
        served += 1
    per_label = (time.perf_counter() - started) / served

    started = time.perf_counter()
    outcomes = task_item_outcomes(task=task)
    alpha = task_alpha(task=task, outcomes=outcomes)
    consensus_s = time.perf_counter() - started

    started = time.perf_counter()
    batch = spot_check_batch_create(task=task, rate=0.05, seed=1)
    sample_s = time.perf_counter() - started

    with capsys.disabled():
        print(f"\nlabeling speed ({N_ITEMS} items, {Annotation.objects.count()} labels): "
              f"next+submit {per_label * 1000:.1f} ms per label; consensus of every item + "
              f"alpha {consensus_s:.2f} s (alpha {alpha:.3f}); spot-check sample of "
              f"{batch.entries.count()} in {sample_s:.2f} s")  # fmt: skip
    assert served == 40
    assert sum(o.disagreed for o in outcomes) > 0
    assert per_label < 0.5 and consensus_s < 20 and sample_s < 5
