"""N-way choices for products: shuffled anonymous options, the order shown and the pick stored;
picks between baseline and candidate become evalhub votes of kind choice; bad input and replays
store nothing new."""

from __future__ import annotations

import pytest

from evalhub.models import ModelVersion, Output, Prompt, Vote
from evalhub.services.campaigns import campaign_close
from feedback.models import ChoiceOption, ChoiceTask
from tests.factories import OutputFactory, PromptFactory
from tests.test_feedback_helpers import feedback_campaign, product_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def choice():
    return feedback_campaign("choice", name="ch")


@pytest.fixture
def product(api_client):
    api_client.force_authenticate(product_user("app"))
    return api_client


def texts(campaign, per_side=2):
    return [
        {"model_version": version.name, "text": f"{label} answer {i}"}
        for version, label in ((campaign.baseline, "Plain"), (campaign.candidate, "Warm"))
        for i in range(per_side)
    ]


def stored():
    return (ChoiceTask.objects.count(), ChoiceOption.objects.count(), Output.objects.count(),
            Prompt.objects.count(), Vote.objects.count())  # fmt: skip


def test_create_shows_shuffled_anonymous_options_and_a_pick_votes(product, choice):
    created = product.post(
        "/api/v1/choices",
        {"campaign": choice.pk, "prompt": "How do I reset my password?", "options": texts(choice),
         "channel": "app", "user": "anon-3"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"token", "status", "prompt", "options"}
    assert [o["position"] for o in body["options"]] == [1, 2, 3, 4]
    assert all(set(o) == {"key", "position", "text", "html"} for o in body["options"])
    task = ChoiceTask.objects.get(token=body["token"])
    assert task.counts_toward_support_rate and task.channel == "app"
    shown = list(task.options.order_by("position").values_list("output__text", flat=True))
    assert shown == [o["text"] for o in body["options"]]  # the order shown is the order stored

    warm = next(o for o in body["options"] if o["text"].startswith("Warm"))
    picked = product.post(
        f"/api/v1/choices/{body['token']}/pick",
        {"key": warm["key"], "time_to_pick_ms": 2300},
        format="json",
    )
    assert picked.status_code == 201, picked.content
    assert picked.json()["position"] == warm["position"]
    vote = Vote.objects.get()
    assert (vote.kind, vote.outcome, vote.choice) == ("choice", "candidate", str(warm["position"]))
    assert vote.source_key == f"choice-task:{task.pk}" and vote.time_taken_ms == 2300
    task.refresh_from_db()
    assert task.status == "picked" and task.picked.output.text == warm["text"]


def test_none_is_good_counts_as_both_bad(product, choice):
    token = product.post(
        "/api/v1/choices",
        {"campaign": choice.pk, "prompt": "Hi?", "options": texts(choice, 1)},
        format="json",
    ).json()["token"]
    response = product.post(f"/api/v1/choices/{token}/pick", {"none": True}, format="json")
    assert response.status_code == 201 and response.json()["none"] is True
    assert Vote.objects.get().outcome == "both_bad"


def test_choices_beyond_the_two_models_are_recorded_but_not_counted(product, choice):
    third = ModelVersion.objects.create(name="third-model")
    options = [*texts(choice, 1), {"model_version": third.name, "text": "Third answer"}]
    token = product.post(
        "/api/v1/choices", {"campaign": choice.pk, "prompt": "Q?", "options": options},
        format="json",
    ).json()["token"]  # fmt: skip
    assert (
        product.post(f"/api/v1/choices/{token}/pick", {"position": 1}, format="json").status_code
        == 201
    )
    assert not ChoiceTask.objects.get().counts_toward_support_rate
    assert Vote.objects.count() == 0
    # Unequal numbers from each model are not counted either (2 + 1).
    unequal = [*texts(choice, 1), {"model_version": choice.candidate.name, "text": "Warm 2"}]
    response = product.post(
        "/api/v1/choices", {"campaign": choice.pk, "prompt": "Q2?", "options": unequal},
        format="json",
    )  # fmt: skip
    assert not ChoiceTask.objects.get(token=response.json()["token"]).counts_toward_support_rate


def test_options_by_output_id_take_their_prompt(product, choice):
    prompt = PromptFactory()
    outputs = [
        OutputFactory(prompt=prompt, model_version=v) for v in (choice.baseline, choice.candidate)
    ]
    response = product.post(
        "/api/v1/choices",
        {"campaign": choice.pk, "options": [{"output_id": o.pk} for o in outputs]},
        format="json",
    )
    assert response.status_code == 201
    assert ChoiceTask.objects.get().prompt == prompt


def test_the_shuffle_varies(product, choice):
    firsts = set()
    for i in range(30):
        body = product.post(
            "/api/v1/choices",
            {"campaign": choice.pk, "prompt": f"Question {i}?", "options": texts(choice, 1)},
            format="json",
        ).json()
        firsts.add(body["options"][0]["text"].split()[0])
    assert firsts == {"Plain", "Warm"}  # P(one order 30 times) = 2 ** -29


def test_bad_input_and_replays_store_nothing(product, choice):
    pairwise = feedback_campaign("pairwise", name="pw")
    closed = feedback_campaign("choice", name="closed")
    campaign_close(campaign=closed)
    a, b = PromptFactory(), PromptFactory()
    oa = OutputFactory(prompt=a, model_version=choice.baseline)
    ob = OutputFactory(prompt=b, model_version=choice.candidate)
    good = {"campaign": choice.pk, "prompt": "Q?", "options": texts(choice, 1)}
    cases = {
        "unknown output": ({**good, "options": [{"output_id": 987654}, {"output_id": oa.pk}]}, 404),
        "foreign campaign": ({**good, "campaign": pairwise.pk}, 400),
        "unknown campaign": ({**good, "campaign": 987654}, 404),
        "closed campaign": ({**good, "campaign": closed.pk}, 409),
        "one option": ({**good, "options": texts(choice, 1)[:1]}, 400),
        "nine options": ({**good, "options": texts(choice, 1) * 5}, 400),
        "same output twice": ({**good, "options": [{"output_id": oa.pk}] * 2}, 400),
        "different prompts": (
            {**good, "options": [{"output_id": oa.pk}, {"output_id": ob.pk}]},
            400,
        ),
        "unknown model": ({**good, "options": [{"model_version": "nope", "text": "x"}] * 2}, 404),
        "no prompt for texts": ({**good, "prompt": ""}, 400),
        "empty option": ({**good, "options": [{}, {}]}, 400),
    }
    before = stored()
    for name, (payload, status) in cases.items():
        response = product.post("/api/v1/choices", payload, format="json")
        assert response.status_code == status, (name, response.content)
        assert set(response.json()) == {"error"}, name
        assert stored() == before, f"{name} stored something"

    token = product.post("/api/v1/choices", good, format="json").json()["token"]
    url = f"/api/v1/choices/{token}/pick"
    before = stored()
    for payload in ({"key": "not-a-key"}, {"position": 7}, {}, {"position": 1, "none": True},
                    {"position": 1, "time_to_pick_ms": -5}):  # fmt: skip
        assert product.post(url, payload, format="json").status_code == 400, payload
    assert (
        product.post("/api/v1/choices/nope/pick", {"position": 1}, format="json").status_code == 404
    )
    assert stored() == before
    first = product.post(url, {"position": 2}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    replay = product.post(url, {"position": 2}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    again = product.post(url, {"position": 1}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_picked"
    assert Vote.objects.count() == 1
    assert ChoiceTask.objects.get(token=token).picked.position == 2


def test_only_feedback_accounts_use_the_choice_api(api_client, make_user, choice):
    payload = {"campaign": choice.pk, "prompt": "Q?", "options": texts(choice, 1)}
    api_client.force_authenticate(make_user("r-ch", "rater"))
    assert api_client.post("/api/v1/choices", payload, format="json").status_code == 403
    assert ChoiceTask.objects.count() == 0
