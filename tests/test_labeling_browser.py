"""An expert spot-checks a sampled batch in real headless Chromium with the keyboard only:
a accepts, r rejects, c opens the correction (1-9 picks, Enter saves), arrows move."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, Review
from labeling.services.annotations import annotation_create_ai, annotation_submit
from labeling.services.reviews import spot_check_batch_create
from labeling.services.serving import item_next
from tests.browser import log_in, screenshot
from tests.factories import ModelVersionFactory
from tests.test_labeling_helpers import prompt_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-secret-1"


def test_expert_spot_checks_a_batch_with_the_keyboard(live_server, browser_page, make_user):
    task = prompt_task(n=4, k=1, batch_size=4, labels=("billing", "shipping", "other"),
                       name="Topic of the request")  # fmt: skip
    labeler = make_user("crowd-labeler", "rater")
    shipping = task.labels.get(name="shipping").pk
    while (item := item_next(task=task, labeler=labeler)) is not None:
        annotation_submit(item=item, labeler=labeler, value={"labels": [shipping]})
    judge = ModelVersionFactory(name="judge-model-XYZ")
    billing_id = task.labels.get(name="billing").pk
    for item in task.items.all():  # AI pre-labels: shown to the expert as suggestions
        annotation_create_ai(item=item, ai_model=judge, value={"labels": [billing_id]},
                             confidence=0.82, rationale="The customer asks for a refund.")  # fmt: skip
    batch = spot_check_batch_create(task=task, rate=1.0, seed=11)
    order = list(batch.entries.order_by("position").values_list("annotation_id", flat=True))
    assert not Annotation.objects.filter(pk__in=order, is_ai=True).exists()  # people only
    assert len(order) == 4
    make_user("expert-1", "expert", password=PASSWORD)

    page = browser_page
    log_in(page, live_server.url, "expert-1", PASSWORD, next_path="/labeling/")
    with page.expect_navigation():
        page.get_by_role("link", name=f"Batch {batch.pk}").click()
    visible = page.locator(".lb-entry:not([hidden])")
    assert "Label 1 of 4" in visible.locator(".lb-count").inner_text()
    assert "shipping" in visible.locator(".lb-given .lb-value").inner_text()
    assert "billing" in visible.locator(".lb-ai").inner_text()
    assert "judge-model-XYZ" not in page.content()

    with page.expect_navigation():
        page.keyboard.press("a")  # accept label 1
    assert "Label 2 of 4" in page.locator(".lb-entry:not([hidden]) .lb-count").inner_text()
    with page.expect_navigation():
        page.keyboard.press("r")  # reject label 2

    page.keyboard.press("c")  # correct label 3: the right answer is "billing" (key 1)
    correction = page.locator(".lb-entry:not([hidden]) .lb-correction")
    assert correction.is_visible()
    page.keyboard.press("1")
    assert correction.locator('input[data-key="1"]').is_checked()
    screenshot(page, "labeling-spotcheck.png")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Arrows move without deciding: back to label 3 shows its verdict, then on to label 4.
    page.keyboard.press("ArrowLeft")
    assert "Corrected" in page.locator(".lb-entry:not([hidden]) .lb-verdict").inner_text()
    page.keyboard.press("ArrowRight")
    assert "Label 4 of 4" in page.locator(".lb-entry:not([hidden]) .lb-count").inner_text()
    with page.expect_navigation():
        page.keyboard.press("a")
    assert "4 of 4 checked" in page.locator("#spot-progress").inner_text()

    verdicts = {r.annotation_id: r for r in Review.objects.filter(batch=batch)}
    assert [verdicts[a].verdict for a in order] == ["accept", "reject", "correct", "accept"]
    billing = task.labels.get(name="billing").pk
    assert verdicts[order[2]].corrected_value == {"labels": [billing]}
    statuses = [Annotation.objects.get(pk=a).status for a in order]
    assert statuses == ["accepted", "rejected", "corrected", "accepted"]
    assert all(r.kind == "spot" and r.reviewer.username == "expert-1" for r in verdicts.values())


def test_a_labeler_labels_with_the_keyboard(live_server, browser_page, make_user):
    task = prompt_task(n=3, k=1, batch_size=3, name="Topic keys")
    make_user("key-labeler", "rater", password=PASSWORD)
    page = browser_page
    log_in(page, live_server.url, "key-labeler", PASSWORD, next_path="/labeling/")
    with page.expect_navigation():
        page.get_by_role("link", name="Label", exact=True).click()
    names = page.locator(".lb-option").all_inner_texts()
    assert len(names) == 3
    second = names[1].split()[-1]  # the label under key 2
    first_item = page.locator('input[name="item"]').input_value()
    page.keyboard.press("2")
    assert page.locator('input[data-key="2"]').is_checked()
    page.locator("#comment").focus()
    page.keyboard.type("1 s")  # keys typed into the comment are text, not answers
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    annotation = Annotation.objects.get(item_id=int(first_item))
    assert annotation.value == {"labels": [task.labels.get(name=second).pk]}
    assert annotation.comment == "1 s" and annotation.seconds is not None
    skipped = page.locator('input[name="item"]').input_value()
    with page.expect_navigation():
        page.keyboard.press("s")
    assert page.locator('input[name="item"]').input_value() not in (first_item, skipped)
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Nothing left for you here" in page.content()
    assert Annotation.objects.filter(item__task=task).count() == 2
