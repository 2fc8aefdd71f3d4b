"""POST /api/v1/feedback/thumbs: products send thumbs; bad input stores nothing; retries never
double count; the rate per token is limited; pages on allowed origins may call it (CORS)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from evalhub.models import Campaign, ModelVersion, Output, Prompt
from evalhub.services.campaigns import campaign_close
from feedback.models import Thumb, TracedOutput
from tests.factories import OutputFactory, PromptFactory
from tests.test_feedback_helpers import feedback_campaign, product_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/feedback/thumbs"


@pytest.fixture
def thumbs() -> Campaign:
    return feedback_campaign("thumbs", name="th")


@pytest.fixture
def product(api_client):
    api_client.force_authenticate(product_user("web-shop"))
    return api_client


def stored() -> tuple[int, ...]:
    return (
        Thumb.objects.count(),
        Output.objects.count(),
        Prompt.objects.count(),
        TracedOutput.objects.count(),
        Thumb.objects.filter(is_current=True).count(),
    )


def test_thumb_on_an_evalhub_output(product, thumbs):
    output = OutputFactory(model_version=thumbs.candidate)
    response = product.post(
        URL,
        {"output_id": output.pk, "value": "up", "campaign": thumbs.pk, "channel": "web",
         "user": "anon-1", "comment": "Spot on"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["value"] == "up" and body["output_id"] == output.pk
    assert body["campaign"] == thumbs.pk and body["replaced_previous"] is False
    thumb = Thumb.objects.get()
    assert (thumb.channel, thumb.product_user_id, thumb.comment) == ("web", "anon-1", "Spot on")
    assert thumbs.prompts.filter(pk=output.prompt_id).exists()


def test_thumb_by_trace_creates_an_imported_output_once(product, thumbs):
    payload = {
        "trace_id": "resp-1",
        "model_version": thumbs.baseline.name,
        "text": "Your parcel ships today.",
        "prompt": "Where is my parcel?",
        "value": "down",
        "campaign": thumbs.pk,
    }
    first = product.post(URL, payload, format="json")
    assert first.status_code == 201, first.content
    output = Output.objects.get(pk=first.json()["output_id"])
    assert output.origin == "imported" and output.model_version == thumbs.baseline
    assert output.text == "Your parcel ships today."
    assert output.prompt.instruction == "Where is my parcel?"
    again = product.post(URL, {**payload, "value": "up"}, format="json")
    assert again.json()["output_id"] == output.pk
    assert TracedOutput.objects.count() == 1 and Thumb.objects.count() == 2

    # The other model's answer to the same question shares the prompt (so thumbs pair up).
    other = product.post(
        URL,
        {**payload, "trace_id": "resp-2", "model_version": thumbs.candidate.name, "text": "Hi!"},
        format="json",
    )
    assert Output.objects.get(pk=other.json()["output_id"]).prompt_id == output.prompt_id


def test_the_latest_thumb_of_a_user_counts(product, thumbs):
    output = OutputFactory(model_version=thumbs.candidate)
    payload = {"output_id": output.pk, "campaign": thumbs.pk, "user": "anon-7"}
    product.post(URL, {**payload, "value": "up"}, format="json")
    second = product.post(URL, {**payload, "value": "down"}, format="json")
    assert second.json()["replaced_previous"] is True
    assert list(Thumb.objects.filter(is_current=True).values_list("value", flat=True)) == ["down"]
    assert Thumb.objects.count() == 2  # history kept
    # Anonymous thumbs (no user id) each count.
    product.post(URL, {"output_id": output.pk, "campaign": thumbs.pk, "value": "up"}, format="json")
    product.post(URL, {"output_id": output.pk, "campaign": thumbs.pk, "value": "up"}, format="json")
    assert Thumb.objects.filter(is_current=True).count() == 3


def bad_requests(thumbs: Campaign) -> dict[str, tuple[dict, int, str]]:
    mine = OutputFactory(model_version=thumbs.candidate)
    stranger = OutputFactory(model_version=ModelVersion.objects.create(name="other-model"))
    pairwise = feedback_campaign("pairwise", name="pw")
    closed = feedback_campaign("thumbs", name="closed")
    closed_output = OutputFactory(model_version=closed.candidate)
    campaign_close(campaign=closed)
    trace = {"trace_id": "t-9", "model_version": thumbs.candidate.name, "text": "Hello"}
    return {
        "unknown output": ({"output_id": 987654, "value": "up"}, 404, "unknown_output"),
        "bad value": ({"output_id": mine.pk, "value": "sideways"}, 400, "invalid"),
        "missing value": ({"output_id": mine.pk}, 400, "invalid"),
        "foreign output": (
            {"output_id": stranger.pk, "value": "up", "campaign": thumbs.pk}, 400, "foreign_output",
        ),
        "foreign trace": (
            {**trace, "model_version": "other-model", "prompt": "Hi?", "value": "up",
             "campaign": thumbs.pk}, 400, "foreign_output",
        ),
        "not a thumbs campaign": (
            {"output_id": mine.pk, "value": "up", "campaign": pairwise.pk}, 400, "wrong_campaign",
        ),
        "unknown campaign": (
            {"output_id": mine.pk, "value": "up", "campaign": 987654}, 404, "unknown_campaign",
        ),
        "closed campaign": (
            {"output_id": closed_output.pk, "value": "up", "campaign": closed.pk}, 409,
            "campaign_not_open",
        ),
        "no answer named": ({"value": "up"}, 400, "invalid"),
        "both ways": ({**trace, "output_id": mine.pk, "prompt": "Hi?", "value": "up"}, 400, "invalid"),
        "new trace without prompt": ({**trace, "value": "up"}, 400, "invalid"),
        "unknown model version": (
            {**trace, "model_version": "nope", "prompt": "Hi?", "value": "up"}, 404,
            "unknown_model_version",
        ),
        "comment too long": (
            {"output_id": mine.pk, "value": "up", "comment": "x" * 5001}, 400, "invalid",
        ),
        "output id not a number": ({"output_id": "abc", "value": "up"}, 400, "invalid"),
    }  # fmt: skip


def test_bad_input_is_refused_and_stores_nothing(product, thumbs):
    cases = bad_requests(thumbs)
    before = stored()
    for name, (payload, status, code) in cases.items():
        response = product.post(URL, payload, format="json")
        assert response.status_code == status, (name, response.content)
        error = response.json()["error"]
        assert error["code"] == code, (name, error)
        assert error["message"], name
        assert stored() == before, f"{name} stored something"


def test_a_trace_sent_again_with_other_text_is_a_conflict(product, thumbs):
    payload = {"trace_id": "r-1", "model_version": thumbs.candidate.name, "text": "One",
               "prompt": "Q?", "value": "up", "campaign": thumbs.pk}  # fmt: skip
    assert product.post(URL, payload, format="json").status_code == 201
    before = stored()
    clash = product.post(URL, {**payload, "text": "Two"}, format="json")
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "trace_text_mismatch"
    assert stored() == before


def test_replays_with_an_idempotency_key_never_double_count(product, thumbs):
    output = OutputFactory(model_version=thumbs.candidate)
    payload = {"output_id": output.pk, "value": "up", "campaign": thumbs.pk}
    first = product.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="click-1")
    replay = product.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="click-1")
    assert first.status_code == replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert Thumb.objects.count() == 1
    reused = product.post(
        URL, {**payload, "value": "down"}, format="json", HTTP_IDEMPOTENCY_KEY="click-1"
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert Thumb.objects.count() == 1
    assert Thumb.objects.get().idempotency_key == "click-1"


def test_only_feedback_accounts_may_send(api_client, make_user, thumbs):
    output = OutputFactory(model_version=thumbs.candidate)
    payload = {"output_id": output.pk, "value": "up"}
    assert api_client.post(URL, payload, format="json").status_code == 401
    api_client.force_authenticate(make_user("r1", "rater"))
    assert api_client.post(URL, payload, format="json").status_code == 403
    api_client.force_authenticate(make_user("boss", "admin"))
    assert api_client.post(URL, payload, format="json").status_code == 201


def test_token_auth_and_rate_limit_per_token(api_client, thumbs):
    from rest_framework.authtoken.models import Token

    output = OutputFactory(model_version=thumbs.candidate)
    one, two = (Token.objects.create(user=product_user(name)).key for name in ("p1", "p2"))
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"feedback": "3/min"}}
    cache.clear()
    try:
        with override_settings(REST_FRAMEWORK=rates):
            codes = [
                api_client.post(
                    URL, {"output_id": output.pk, "value": "up"}, format="json",
                    HTTP_AUTHORIZATION=f"Token {one}",
                ).status_code
                for _ in range(4)
            ]  # fmt: skip
            other = api_client.post(
                URL, {"output_id": output.pk, "value": "up"}, format="json",
                HTTP_AUTHORIZATION=f"Token {two}",
            )  # fmt: skip
            limited = api_client.post(
                URL, {"output_id": output.pk, "value": "up"}, format="json",
                HTTP_AUTHORIZATION=f"Token {one}",
            )  # fmt: skip
    finally:
        cache.clear()
    assert codes == [201, 201, 201, 429]
    assert other.status_code == 201  # each token has its own budget
    assert limited.json()["error"]["code"] == "throttled" and "Retry-After" in limited
    assert Thumb.objects.count() == 4


@override_settings(FEEDBACK_ALLOWED_ORIGINS="https://shop.example")
def test_cors_for_allowed_origins_only(client, thumbs):
    from rest_framework.authtoken.models import Token

    preflight = client.options(
        URL, HTTP_ORIGIN="https://shop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Idempotency-Key" in preflight["Access-Control-Allow-Headers"]
    refused = client.options(
        URL, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused
    token = Token.objects.create(user=product_user("shop")).key
    output = OutputFactory(model_version=thumbs.candidate)
    posted = client.post(
        URL,
        {"output_id": output.pk, "value": "up"},
        content_type="application/json",
        HTTP_ORIGIN="https://shop.example",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert posted.status_code == 201
    assert posted["Access-Control-Allow-Origin"] == "https://shop.example"


def test_prompt_id_names_the_question(product, thumbs):
    PromptFactory(external_id="faq-7", instruction="How do refunds work?")
    response = product.post(
        URL,
        {"trace_id": "x1", "model_version": thumbs.candidate.name, "text": "Like this.",
         "prompt_id": "faq-7", "value": "up", "campaign": thumbs.pk},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    assert Output.objects.get(pk=response.json()["output_id"]).prompt.external_id == "faq-7"
