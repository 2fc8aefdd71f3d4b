"""Labeling services and selectors on the real database: serving (k, batches, gold), answers,
layers, reviews, spot-check sampling, accuracy, flags and the effects on prompts and pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalhub.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from labeling.models import Annotation, Claim, LabelingTask, TaskItem
from labeling.selectors import labeler_accuracy, task_alpha, task_item_outcomes
from labeling.services.annotations import annotation_create_ai, annotation_submit
from labeling.services.effects import labelers_exclude_flagged, labeling_task_apply
from labeling.services.reviews import review_record, spot_check_batch_create, spot_check_sample
from labeling.services.serving import item_next, item_skip, items_claim_batch
from labeling.services.tasks import (
    labeling_task_create,
    labeling_task_create_next_layer,
    labeling_task_open,
)
from tests.factories import ModelVersionFactory, PromptFactory
from tests.test_labeling_helpers import make_labels, output_preference_task, prompt_task
from training.models import PreferencePair
from training.models.pairs import pair_content_hash

pytestmark = pytest.mark.django_db


def label_id(task: LabelingTask, name: str) -> int:
    return task.labels.get(name=name).pk


def answer(task, user, name):
    item = item_next(task=task, labeler=user)
    return annotation_submit(item=item, labeler=user, value={"labels": [label_id(task, name)]})


def test_never_more_than_k_labels_and_fewest_first(make_user):
    task = prompt_task(n=2, k=2, batch_size=1)
    users = [make_user(f"r{i}", "rater") for i in range(5)]
    served = []
    for user in users:
        item = item_next(task=task, labeler=user)
        served.append(item and item.pk)
        if item is not None:
            annotation_submit(item=item, labeler=user, value={"labels": [label_id(task, "other")]})
    # fewest first: the two items alternate, then both are full
    assert served[0] != served[1] and served[2] in served[:2] and served[3] in served[:2]
    assert served[4] is None
    counts = [Annotation.objects.filter(item=i).count() for i in task.items.all()]
    assert counts == [2, 2]


def test_a_live_claim_holds_the_slot_and_full_items_refuse_answers(make_user):
    task = prompt_task(n=1, k=1)
    first, second = make_user("r1", "rater"), make_user("r2", "rater")
    item = item_next(task=task, labeler=first)
    assert item_next(task=task, labeler=second) is None  # the only slot is claimed
    with pytest.raises(Conflict):  # answering without the slot would overshoot k
        annotation_submit(item=item, labeler=second, value={"labels": [label_id(task, "other")]})
    annotation_submit(item=item, labeler=first, value={"labels": [label_id(task, "other")]})
    assert Annotation.objects.filter(item=item).count() == 1


def test_batch_claims_and_skip_never_serves_again(make_user):
    task = prompt_task(n=5, k=1, batch_size=3)
    user = make_user("r1", "rater")
    batch = items_claim_batch(task=task, labeler=user)
    assert len(batch) == 3 and Claim.objects.filter(labeler=user).count() == 3
    first = item_next(task=task, labeler=user)
    item_skip(item=first, labeler=user)
    seen = set()
    while (item := item_next(task=task, labeler=user)) is not None:
        seen.add(item.pk)
        annotation_submit(item=item, labeler=user, value={"labels": [label_id(task, "billing")]})
    assert first.pk not in seen and len(seen) == 4
    other = make_user("r2", "rater")
    assert item_next(task=task, labeler=other).pk == first.pk  # the skipped slot went back


def test_idempotent_retry_and_second_answer_conflict(make_user):
    task = prompt_task(n=1, k=2)
    user = make_user("r1", "rater")
    item = item_next(task=task, labeler=user)
    value = {"labels": [label_id(task, "billing")]}
    a = annotation_submit(item=item, labeler=user, value=value, idempotency_key="k1")
    assert annotation_submit(item=item, labeler=user, value=value, idempotency_key="k1") == a
    with pytest.raises(Conflict):
        annotation_submit(item=item, labeler=user, value=value, idempotency_key="k2")
    with pytest.raises(InvalidInput):
        annotation_submit(item=item, labeler=make_user("r2"), value={"labels": [999999]})


def test_audience_decides_who_is_served(make_user):
    task = prompt_task(n=1, audience="expert")
    with pytest.raises(NotFound):
        item_next(task=task, labeler=make_user("r1", "rater"))
    assert item_next(task=task, labeler=make_user("e1", "expert")) is not None
    staff = prompt_task(n=1, audience="staff", name="staff task")
    assert item_next(task=staff, labeler=make_user("a1", "agent")) is not None
    assert item_next(task=staff, labeler=make_user("p1", "pm")) is not None


def test_gold_items_are_mixed_in_at_the_share(make_user):
    task = prompt_task(n=400, k=1, gold=200, gold_share=0.2, batch_size=50, seed=7)
    gold = 0
    for i in range(4):
        batch = items_claim_batch(task=task, labeler=make_user(f"r{i}", "rater"))
        assert len(batch) == 50, i
        gold += sum(item.is_gold for item in batch)
    # 200 slots, each gold with p = 0.2: 40 expected; a two-sided binomial test
    assert stats.binomtest(gold, 200, 0.2).pvalue > 0.001, gold


def test_gold_accuracy_flags_and_exclusion_removes_labels(make_user):
    task = prompt_task(n=2, k=3, gold=6, gold_share=1.0, gold_min_answers=3,
                       gold_min_accuracy=0.8)  # fmt: skip
    good, bad = make_user("good", "rater"), make_user("bad", "rater")
    for gold_item in task.items.filter(is_gold=True):
        for user, name in ((good, "billing"), (bad, "shipping")):
            Claim.objects.create(item=gold_item, labeler=user, expires_at="2999-01-01T00:00Z")
            annotation_submit(item=gold_item, labeler=user,
                              value={"labels": [label_id(task, name)]})  # fmt: skip
    rows = {row.username: row for row in labeler_accuracy(task=task)}
    assert rows["good"].gold_accuracy == 1.0 and not rows["good"].flagged
    assert rows["bad"].gold_accuracy == 0.0 and rows["bad"].flagged
    excluded = labelers_exclude_flagged(task=task)
    assert [e.labeler for e in excluded] == [bad]
    with pytest.raises(Conflict):
        item_next(task=task, labeler=bad)


def test_layer_two_gets_only_the_disagreements(make_user):
    task = prompt_task(n=4, k=3, batch_size=4)
    users = [make_user(f"r{i}", "rater") for i in range(3)]
    items = list(task.items.order_by("position"))
    plan = {  # item index -> the three answers
        0: ["billing", "billing", "billing"],
        1: ["billing", "shipping", "other"],  # disagreement
        2: ["shipping", "shipping", "billing"],  # 2/3 >= 0.6: consensus
        3: ["other", "billing", "shipping"],  # disagreement
    }
    for index, names in plan.items():
        for user, name in zip(users, names, strict=True):
            Claim.objects.get_or_create(item=items[index], labeler=user,
                                        defaults={"expires_at": "2999-01-01T00:00Z"})  # fmt: skip
            annotation_submit(item=items[index], labeler=user,
                              value={"labels": [label_id(task, name)]})  # fmt: skip
    outcomes = task_item_outcomes(task=task)
    assert [o.disagreed for o in outcomes] == [False, True, False, True]
    child = labeling_task_create_next_layer(task=task, audience="expert", k=1)
    assert child.layer == 2 and child.parent == task and child.audience == "expert"
    assert [i.source_item_id for i in child.items.order_by("position")] == [
        items[1].pk,
        items[3].pk,
    ]
    assert {i.prompt_id for i in child.items.all()} == {items[1].prompt_id, items[3].prompt_id}
    alpha = task_alpha(task=task)
    assert alpha is not None and -1 <= alpha < 1


def test_consensus_labels_go_to_prompts_and_a_rejected_label_stops_counting(make_user):
    task = prompt_task(n=1, k=2, min_agreement=1.0)
    a, b = make_user("r1", "rater"), make_user("r2", "rater")
    first = answer(task, a, "billing")
    answer(task, b, "billing")
    assert labeling_task_apply(task=task)["consensus"] == 1
    prompt = task.items.get().prompt
    assert list(prompt.labels.values_list("name", flat=True)) == ["billing"]
    expert = make_user("e1", "expert")
    batch = spot_check_batch_create(task=task, rate=1.0, seed=3, created_by=expert)
    review_record(annotation=first, reviewer=expert, kind="spot", verdict="reject", batch=batch)
    first.refresh_from_db()
    assert first.status == "rejected"
    assert not prompt.labels.exists()  # one label left: no consensus, the label is taken off
    assert TaskItem.objects.get(task=task).state == "open"
    assert {r.username: r.accuracy for r in labeler_accuracy(task=task)}["r1"] == 0.0


def test_corrections_count_with_the_corrected_value(make_user):
    task = prompt_task(n=1, k=2, min_agreement=1.0)
    a, b = make_user("r1", "rater"), make_user("r2", "rater")
    wrong = answer(task, a, "shipping")
    answer(task, b, "billing")
    assert task_item_outcomes(task=task)[0].disagreed
    review_record(annotation=wrong, reviewer=b, kind="cross", verdict="correct",
                  corrected_value={"labels": [label_id(task, "billing")]})  # fmt: skip
    outcome = task_item_outcomes(task=task)[0]
    assert outcome.consensus == {"labels": [label_id(task, "billing")]}
    with pytest.raises(Forbidden):
        review_record(annotation=wrong, reviewer=a, kind="cross", verdict="accept")
    with pytest.raises(Forbidden):  # a rater cannot spot-check
        review_record(annotation=wrong, reviewer=make_user("r3"), kind="spot", verdict="accept")


def test_preference_on_pairs_sets_the_review_status(make_user):
    prompt = PromptFactory()
    pairs = [
        PreferencePair.objects.create(
            prompt=prompt, chosen_text=f"good {i}", rejected_text=f"bad {i}", source="expert",
            source_key=f"test:{i}",
            content_hash=pair_content_hash(source="expert", campaign_id=None,
                                           prompt_hash=prompt.content_hash,
                                           chosen=f"good {i}", rejected=f"bad {i}"),
        )
        for i in range(2)
    ]  # fmt: skip
    task = labeling_task_create(name="pairs", item_kind="pair", question_kind="preference",
                                k=1, audience="expert", items=[{"pair": p.pk} for p in pairs])  # fmt: skip
    task = labeling_task_open(task=task)
    user = make_user("e1", "expert")
    for choice in ("a", "b"):
        item = item_next(task=task, labeler=user)
        annotation_submit(item=item, labeler=user, value={"preference": choice})
    labeling_task_apply(task=task)
    statuses = {i.pair_id: i.pair.review_status for i in task.items.select_related("pair")}
    assert sorted(statuses.values()) == ["accepted", "rejected"]


def test_output_preference_and_score_validation(make_user):
    task = output_preference_task(n=1, k=1)
    user = make_user("r1", "rater")
    item = item_next(task=task, labeler=user)
    assert item.output_b_id is not None
    with pytest.raises(InvalidInput):
        annotation_submit(item=item, labeler=user, value={"preference": "left"})
    annotation_submit(item=item, labeler=user, value={"preference": "tie"})


def test_ai_annotations_are_idempotent_and_never_count(make_user):
    task = prompt_task(n=1, k=1)
    judge = ModelVersionFactory(name="judge")
    item = task.items.get()
    value = {"labels": [label_id(task, "billing")]}
    ai = annotation_create_ai(item=item, ai_model=judge, value=value, confidence=0.9)
    assert ai.is_ai and ai.labeler is None
    other = {"labels": [label_id(task, "other")]}
    assert annotation_create_ai(item=item, ai_model=judge, value=other) == ai
    assert ai.value == value  # the stored pre-label is never changed
    with pytest.raises(InvalidInput):
        annotation_create_ai(item=item, ai_model=ModelVersionFactory(), value={"labels": [10**9]})
    assert task_item_outcomes(task=task)[0].n == 0
    assert item_next(task=task, labeler=make_user("r1")) is not None  # k still free


def test_spot_check_sample_is_reproducible():
    a = spot_check_sample(population=1000, rate=0.05, seed=42)
    assert a == spot_check_sample(population=1000, rate=0.05, seed=42)
    assert len(a) == 50 and len(set(a)) == 50
    assert a != spot_check_sample(population=1000, rate=0.05, seed=43)
    assert spot_check_sample(population=3, rate=0.05, seed=1) != []  # at least one


def test_spot_check_sample_is_uniform_over_positions():
    """Over 4,000 seeds, every one of 200 positions is picked equally often (chi-square)."""
    population, counts = 200, np.zeros(200)
    for seed in range(4000):
        counts[spot_check_sample(population=population, rate=0.05, seed=seed)] += 1
    assert counts.sum() == 4000 * 10
    result = stats.chisquare(counts)
    assert result.pvalue > 0.001, result
    # and a biased sampler would fail the same test
    biased = counts.copy()
    biased[:20] *= 1.3
    assert stats.chisquare(biased).pvalue < 0.001


def test_spot_check_batch_samples_the_task_reproducibly(make_user):
    task = prompt_task(n=40, k=1, batch_size=40)
    user = make_user("r1", "rater")
    while (item := item_next(task=task, labeler=user)) is not None:
        annotation_submit(item=item, labeler=user, value={"labels": [label_id(task, "other")]})
    one = spot_check_batch_create(task=task, rate=0.1, seed=5)
    two = spot_check_batch_create(task=task, rate=0.1, seed=5)
    ids = [list(b.entries.values_list("annotation_id", flat=True)) for b in (one, two)]
    assert len(ids[0]) == 4 and ids[0] == ids[1]
    third = spot_check_batch_create(task=task)  # default seed moves on per batch
    assert third.seed == task.seed + 2


def test_task_create_validates(make_user):
    billing, _ = make_labels("billing", "x")
    with pytest.raises(InvalidInput):
        labeling_task_create(name="", item_kind="prompt", question_kind="labels", labels=[billing])
    with pytest.raises(InvalidInput):
        labeling_task_create(name="p", item_kind="prompt", question_kind="preference")
    with pytest.raises(InvalidInput):
        labeling_task_create(name="p", item_kind="prompt", question_kind="labels",
                             labels=[billing], items=[{"prompt": 10**9}])  # fmt: skip
