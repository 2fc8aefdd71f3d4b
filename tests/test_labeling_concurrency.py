"""Labelers racing for the last slots: real threads on the real database (SQLite and
PostgreSQL). The task row lock keeps every item at k human labels, never more."""

from __future__ import annotations

import pytest
from django.db.models import Count

from labeling.models import Annotation, TaskItem
from labeling.services.annotations import annotation_submit
from labeling.services.serving import item_next
from tests.test_labeling_helpers import prompt_task
from tests.test_rating_concurrency import _together

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_labelers_fill_every_item_to_k_and_no_further(make_user):
    task = prompt_task(n=4, k=2, batch_size=2)
    labelers = [make_user(f"race-{i}", "rater") for i in range(7)]
    label = task.labels.first().pk

    def label_until_done(i: int) -> int:
        done = 0
        while (item := item_next(task=task, labeler=labelers[i])) is not None:
            annotation_submit(item=item, labeler=labelers[i], value={"labels": [label]})
            done += 1
        return done

    results = _together(7, label_until_done)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == 8  # 4 items x k=2: every slot taken once
    counts = TaskItem.objects.filter(task=task).annotate(n=Count("annotations"))
    assert sorted(i.n for i in counts) == [2, 2, 2, 2]
    assert Annotation.objects.values("item", "labeler").distinct().count() == 8
