"""Every labeling page and endpoint, for every role (anonymous, rater, agent, expert, pm,
admin), plus the flows through HTTP: a rater labels through the page and the API (with an
Idempotency-Key), a manager creates and runs a task, nothing a labeler gets names a model."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from labeling.models import Annotation, LabelingTask, TaskItem
from labeling.services.annotations import annotation_submit
from labeling.services.reviews import spot_check_batch_create
from labeling.services.serving import item_next
from tests.test_labeling_helpers import make_labels, output_preference_task, prompt_task
from tests.test_permission_matrix import all_routes

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "rater", "agent", "expert", "pm", "admin")

# name: (method, body, statuses for anonymous, rater, agent, expert, pm, admin)
# fmt: off
TABLE: dict[str, tuple[str, dict[str, Any] | None, tuple[int, ...]]] = {
    "labeling-home":                 ("GET",  None, (302, 200, 200, 200, 200, 200)),
    "labeling-label":                ("GET",  None, (302, 200, 404, 404, 404, 200)),
    "labeling-review":               ("GET",  None, (302, 200, 200, 200, 200, 200)),
    "labeling-spotcheck":            ("GET",  None, (302, 403, 403, 200, 403, 200)),
    "labeling-manage":               ("GET",  None, (302, 403, 403, 403, 200, 200)),
    "labeling-manage-task":          ("GET",  None, (302, 403, 403, 403, 200, 200)),
    "labeling-manage-action":        ("POST", {},   (302, 403, 403, 403, 302, 302)),
    "api-labeling-tasks":            ("GET",  None, (401, 403, 403, 403, 200, 200)),
    "api-labeling-task":             ("GET",  None, (401, 403, 403, 403, 200, 200)),
    "api-labeling-task-items":       ("POST", {},   (401, 403, 403, 403, 400, 400)),
    "api-labeling-task-open":        ("POST", {},   (401, 403, 403, 403, 200, 200)),
    "api-labeling-task-close":       ("POST", {},   (401, 403, 403, 403, 200, 200)),
    "api-labeling-task-apply":       ("POST", {},   (401, 403, 403, 403, 200, 200)),
    "api-labeling-task-next-layer":  ("POST", {},   (401, 403, 403, 403, 409, 409)),
    "api-labeling-spotcheck-create": ("POST", {},   (401, 403, 403, 201, 201, 201)),
    "api-labeling-next":             ("GET",  None, (401, 200, 404, 404, 404, 200)),
    "api-labeling-my-tasks":         ("GET",  None, (401, 200, 200, 200, 200, 200)),
    "api-labeling-skip":             ("POST", {},   (401, 404, 404, 404, 404, 404)),
    "api-labeling-annotations":      ("POST", {},   (401, 400, 400, 400, 400, 400)),
    "api-labeling-review-queue":     ("GET",  None, (401, 200, 200, 200, 403, 200)),
    "api-labeling-reviews":          ("POST", {},   (401, 400, 400, 400, 403, 400)),
    "api-labeling-spotcheck":        ("GET",  None, (401, 403, 403, 200, 403, 200)),
}
# fmt: on


@pytest.fixture
def world(make_user) -> dict[str, Any]:
    users = {role: make_user(f"lb-{role}", role) for role in ROLES[1:]}
    task = prompt_task(n=3, k=2)
    other = make_user("lb-other", "rater")
    item = item_next(task=task, labeler=other)
    annotation = annotation_submit(
        item=item, labeler=other, value={"labels": [task.labels.first().pk]}
    )
    batch = spot_check_batch_create(task=task, rate=1.0, seed=1)
    return {"users": users, "task": task, "batch": batch, "annotation": annotation}


def _path(name: str, world: dict[str, Any]) -> str:
    if name == "labeling-manage-action":
        return reverse(name, args=[world["task"].pk, "open"])
    if name in ("labeling-spotcheck", "api-labeling-spotcheck"):
        return reverse(name, args=[world["batch"].pk])
    if name == "api-labeling-skip":
        return reverse(name, args=[world["annotation"].item_id])
    route_args = {"labeling-home", "labeling-review", "labeling-manage", "api-labeling-tasks",
                  "api-labeling-my-tasks", "api-labeling-annotations",
                  "api-labeling-review-queue", "api-labeling-reviews"}  # fmt: skip
    return reverse(name) if name in route_args else reverse(name, args=[world["task"].pk])


def _client(role: str, world: dict[str, Any]) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


def test_the_table_covers_every_labeling_route():
    names = {r.name for r in all_routes() if r.urlconf.startswith("labeling.")}
    assert names == set(TABLE)


def test_every_page_and_endpoint_for_every_role(world):
    wrong = []
    for name, (method, body, statuses) in TABLE.items():
        path = _path(name, world)
        for role, expected in zip(ROLES, statuses, strict=True):
            client = _client(role, world)
            with transaction.atomic():
                if method == "GET":
                    response = client.get(path)
                else:
                    response = client.post(path, data=body, content_type="application/json")
                transaction.set_rollback(True)
            if response.status_code != expected:
                wrong.append(f"{role:9} {method} {path}: {response.status_code} (want {expected})")
            if role == "anonymous" and response.status_code == 302:
                assert response["Location"].startswith("/accounts/login/")
            if path.startswith("/api/") and response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not wrong, "\n".join(wrong)


def test_a_rater_labels_through_the_page_with_keys_markup(make_user):
    task = prompt_task(n=2, k=1)
    rater = make_user("r1", "rater")
    client = Client()
    client.force_login(rater)
    page = client.get(reverse("labeling-label", args=[task.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-key="1"' in html and "label-form" in html
    item = TaskItem.objects.get(pk=page.context["item"].pk)
    billing = task.labels.get(name="billing").pk
    response = client.post(reverse("labeling-label", args=[task.pk]),
                           {"item": item.pk, "labels": [billing], "seconds": "3.5"})  # fmt: skip
    assert response.status_code == 302
    annotation = Annotation.objects.get(item=item, labeler=rater)
    assert annotation.value == {"labels": [billing]} and annotation.seconds == 3.5
    second = client.get(reverse("labeling-label", args=[task.pk])).context["item"]
    client.post(reverse("labeling-label", args=[task.pk]), {"item": second.pk, "skip": "1"})
    done = client.get(reverse("labeling-label", args=[task.pk]))
    assert done.context["done"] is True


def test_api_next_and_submit_are_blind_and_idempotent(make_user, api_client):
    task = output_preference_task(n=1, k=2)
    rater = make_user("r1", "rater")
    api_client.force_authenticate(rater)
    served = api_client.get(f"/api/v1/labeling/tasks/{task.pk}/next")
    assert served.status_code == 200
    text = served.content.decode()
    item = TaskItem.objects.get(task=task)
    for secret in (item.output.model_version.name, item.output_b.model_version.name):
        assert secret not in text
    assert [a["side"] for a in served.json()["answers"]] == ["left", "right"]
    body = {"item": served.json()["item"], "value": {"preference": "left"}}
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-1"}
    first = api_client.post("/api/v1/labeling/annotations", body, format="json", **headers)
    again = api_client.post("/api/v1/labeling/annotations", body, format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Annotation.objects.filter(item=item).count() == 1
    stored = Annotation.objects.get(item=item).value["preference"]
    left_key = "a" if served.json()["answers"][0]["text"] == item.output.text else "b"
    assert stored == left_key  # "left" is stored as the answer that was shown on the left
    assert api_client.get(f"/api/v1/labeling/tasks/{task.pk}/next").status_code == 204


def test_a_manager_creates_opens_and_samples_through_the_api(make_user, api_client):
    billing, shipping = make_labels("billing", "shipping")
    api_client.force_authenticate(make_user("pm1", "pm"))
    from tests.factories import PromptFactory

    prompts = [PromptFactory().pk for _ in range(3)]
    created = api_client.post("/api/v1/labeling/tasks", {
        "name": "Topics", "item_kind": "prompt", "question_kind": "labels",
        "labels": [billing.pk, shipping.pk], "k": 1, "items": [{"prompt": p} for p in prompts],
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api_client.post(f"/api/v1/labeling/tasks/{pk}/open").json()["status"] == "open"
    detail = api_client.get(f"/api/v1/labeling/tasks/{pk}").json()
    assert detail["progress"]["n_items"] == 3 and detail["disagreements"] == []
    bad = api_client.post("/api/v1/labeling/tasks", {"name": "x", "item_kind": "prompt",
                          "question_kind": "labels", "labels": [10**9]}, format="json")  # fmt: skip
    assert bad.status_code == 400


def test_manager_page_creates_a_task_from_the_form(make_user):
    billing, shipping = make_labels("billing", "shipping")
    from tests.factories import PromptFactory

    prompts = [PromptFactory() for _ in range(2)]
    client = Client()
    client.force_login(make_user("pm1", "pm"))
    response = client.post(reverse("labeling-manage"), {
        "name": "Page task", "item_kind": "prompt", "question_kind": "labels",
        "labels": [billing.pk, shipping.pk], "audience": "user", "k": 2, "batch_size": 5,
        "min_agreement": 0.6, "gold_share": 0, "gold_min_accuracy": 0.8, "gold_min_answers": 5,
        "spot_check_rate": 0.05, "seed": 0,
        "items": f"{prompts[0].pk}\n{{\"prompt\": {prompts[1].pk}, \"gold_answer\": "
                 f"{{\"labels\": [{billing.pk}]}}}}",
    })  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    task = LabelingTask.objects.get(name="Page task")
    assert task.items.count() == 2 and task.items.filter(is_gold=True).count() == 1
    page = client.get(reverse("labeling-manage-task", args=[task.pk]))
    assert page.status_code == 200 and b"Krippendorff" in page.content


def test_model_text_is_escaped_on_the_label_page(make_user):
    from tests.factories import PromptFactory

    task = prompt_task(n=0, k=1, open_it=False)
    from labeling.services.tasks import labeling_task_open, task_items_add

    evil = PromptFactory(instruction="<script>alert(1)</script> **bold**")
    task_items_add(task=task, items=[{"prompt": evil.pk}])
    labeling_task_open(task=task)
    client = Client()
    client.force_login(make_user("r1", "rater"))
    html = client.get(reverse("labeling-label", args=[task.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html and "<strong>bold</strong>" in html


def _queries_for(client: Client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_lists_cost_the_same_queries_for_more_tasks(make_user):
    """The labeler's home, the review page and the manager's list do not query per task."""
    rater, manager, other = make_user("r1", "rater"), make_user("pm1", "pm"), make_user("r2")

    def task_with_a_label(name: str) -> None:
        task = prompt_task(n=2, k=1, name=name)
        item = item_next(task=task, labeler=other)
        annotation_submit(item=item, labeler=other, value={"labels": [task.labels.first().pk]})

    task_with_a_label("first")
    as_rater, as_manager = Client(), Client()
    as_rater.force_login(rater)
    as_manager.force_login(manager)
    paths = [(as_rater, "/labeling/"), (as_rater, "/labeling/review/"),
             (as_manager, "/labeling/manage/")]  # fmt: skip
    [_queries_for(client, path) for client, path in paths]  # warm the permission cache
    before = [_queries_for(client, path) for client, path in paths]
    for n in range(5):
        task_with_a_label(f"more {n}")
    after = [_queries_for(client, path) for client, path in paths]
    assert after == before, (before, after)


def test_cross_review_page_accepts_and_corrects_others_labels(make_user):
    task = prompt_task(n=2, k=1, batch_size=2)
    labeler, peer = make_user("r1", "rater"), make_user("r2", "rater")
    shipping, billing = task.labels.get(name="shipping").pk, task.labels.get(name="billing").pk
    given = []
    while (item := item_next(task=task, labeler=labeler)) is not None:
        given.append(annotation_submit(item=item, labeler=labeler,
                                       value={"labels": [shipping]}))  # fmt: skip
    client = Client()
    client.force_login(peer)
    page = client.get(reverse("labeling-review"))
    assert page.context["annotation"] == given[0] and b"data-show-correction" in page.content
    client.post(reverse("labeling-review"), {"annotation": given[0].pk, "verdict": "accept"})
    client.post(reverse("labeling-review"), {"annotation": given[1].pk, "verdict": "correct",
                                             "labels": [billing]})  # fmt: skip
    statuses = [Annotation.objects.get(pk=a.pk).status for a in given]
    assert statuses == ["accepted", "corrected"]
    assert given[1].reviews.get().corrected_value == {"labels": [billing]}
    assert client.get(reverse("labeling-review")).context["remaining"] == 0
    own = Client()
    own.force_login(labeler)  # nobody reviews their own labels
    assert own.get(reverse("labeling-review")).context["remaining"] == 0


def test_ai_pre_labels_show_to_reviewers_not_to_labelers(make_user):
    from labeling.selectors import ai_agreement, task_item_outcomes
    from labeling.services.annotations import annotation_create_ai
    from tests.factories import ModelVersionFactory

    task = prompt_task(n=1, k=1)
    judge = ModelVersionFactory(name="secret-judge-model")
    item = task.items.get()
    billing = task.labels.get(name="billing").pk
    annotation_create_ai(item=item, ai_model=judge, value={"labels": [billing]},
                         confidence=0.75, rationale="It asks about a refund.")  # fmt: skip
    labeler, peer = make_user("r1", "rater"), make_user("r2", "rater")
    client = Client()
    client.force_login(labeler)
    label_page = client.get(reverse("labeling-label", args=[task.pk])).content.decode()
    assert "AI suggestion" not in label_page and "refund." not in label_page
    annotation_submit(item=item, labeler=labeler, value={"labels": [billing]})
    client.force_login(peer)
    review_page = client.get(reverse("labeling-review")).content.decode()
    assert "AI suggestion" in review_page and "confidence 0.75" in review_page
    assert "secret-judge-model" not in review_page
    agreement = ai_agreement(task=task, outcomes=task_item_outcomes(task=task))
    assert agreement == {"compared": 1, "matched": 1, "share": 1.0}
