"""The labeling commands: create a task from an items file, show it, sample a spot-check."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from labeling.models import LabelingTask, SpotCheckBatch
from labeling.services.annotations import annotation_submit
from labeling.services.serving import item_next
from tests.factories import PromptFactory
from tests.test_labeling_helpers import make_labels

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_label_show_spotcheck_and_apply(tmp_path, make_user):
    billing, _ = make_labels("billing", "shipping")
    prompts = [PromptFactory() for _ in range(4)]
    items = tmp_path / "items.txt"
    items.write_text("\n".join(str(p.pk) for p in prompts[:3])
                     + f'\n{{"prompt": {prompts[3].pk}, "gold_answer": {{"labels": [{billing.pk}]}}}}\n')  # fmt: skip
    out = run("labeling_task", "create", "Topics", "--items-kind", "prompt", "--question",
              "labels", "--label", "billing", "--label", "shipping", "--k", "1",
              "--items", str(items), "--open")  # fmt: skip
    task = LabelingTask.objects.get(name="Topics")
    assert f"Task {task.pk} (open): 4 items." in out
    rater = make_user("r1", "rater")
    while (item := item_next(task=task, labeler=rater)) is not None:
        annotation_submit(item=item, labeler=rater, value={"labels": [billing.pk]})
    shown = run("labeling_task", "show", str(task.pk))
    assert "labels 3/3" in shown and "r1" in shown
    sampled = run("labeling_spotcheck", str(task.pk), "--rate", "0.5", "--seed", "1")
    batch = SpotCheckBatch.objects.get(task=task)
    assert batch.entries.count() == 2 and f"/labeling/spotcheck/{batch.pk}/" in sampled
    assert "3 consensus" in run("labeling_task", "apply", str(task.pk))
    assert list(prompts[0].labels.values_list("name", flat=True)) == ["billing"]
    assert "Topics" in run("labeling_task", "list")


def test_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="No label named"):
        run("labeling_task", "create", "x", "--items-kind", "prompt", "--question", "labels",
            "--label", "nope")  # fmt: skip
    with pytest.raises(CommandError, match="No such labeling task"):
        run("labeling_spotcheck", "999999")
    bad = tmp_path / "bad.txt"
    bad.write_text("not an id\n")
    make_labels("billing")
    with pytest.raises(CommandError, match="Line 1"):
        run("labeling_task", "create", "x", "--items-kind", "prompt", "--question", "labels",
            "--label", "billing", "--items", str(bad))  # fmt: skip
