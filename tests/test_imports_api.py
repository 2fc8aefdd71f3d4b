"""The import API: multipart upload, permission, error shape, nothing stored on failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evalhub.models import Campaign, ModelVersion, Output, Prompt, Vote
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


def upload(name: str, content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (DATA / name).read_bytes() if content is None else content)


@pytest.fixture
def pm_api(api_client, pm):
    api_client.force_authenticate(pm)
    return api_client


def test_pm_imports_prompts_and_gets_the_report(pm_api):
    response = pm_api.post(
        "/api/v1/imports/prompts", {"file": upload("prompts.csv")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["format"], body["created"], body["duplicates"]) == (
        "prompts", "csv", 3, 0,
    )  # fmt: skip
    assert Prompt.objects.count() == 3
    again = pm_api.post("/api/v1/imports/prompts", {"file": upload("prompts.csv")})
    assert again.status_code == 201
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 3)
    assert Prompt.objects.count() == 3


def test_token_auth_works(api_client, make_user):
    from rest_framework.authtoken.models import Token

    user = make_user("pm-token", "pm")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    response = api_client.post("/api/v1/imports/prompts", {"file": upload("prompts.jsonl")})
    assert response.status_code == 201, response.content
    assert Prompt.objects.count() == 2


def test_rater_gets_403_and_anonymous_401_and_nothing_is_stored(rater_api, api_client):
    for url, name in [
        ("/api/v1/imports/prompts", "prompts.csv"),
        ("/api/v1/imports/outputs", "outputs.csv"),
        ("/api/v1/imports/battles", "battles.json"),
    ]:
        response = rater_api.post(url, {"file": upload(name)})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    api_client.force_authenticate(None)
    assert (
        api_client.post("/api/v1/imports/prompts", {"file": upload("prompts.csv")}).status_code
        == 401
    )
    assert Prompt.objects.count() == 0


def test_bad_rows_give_400_with_line_and_field_and_store_nothing(pm_api):
    content = b"external_id,instruction,split\na,Fine,train\nb,,train\nc,Also fine,later\n"
    response = pm_api.post("/api/v1/imports/prompts", {"file": upload("p.csv", content)})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    assert "line 3, field instruction" in error["message"]
    assert [(e["line"], e["field"]) for e in error["details"]["errors"]] == [
        (3, "instruction"), (4, "split"),
    ]  # fmt: skip
    assert all(e["message"] for e in error["details"]["errors"])
    assert Prompt.objects.count() == 0


def test_skip_bad_stores_good_rows_and_lists_bad_ones(pm_api):
    content = b"external_id,instruction\na,Fine\nb,\n"
    response = pm_api.post(
        "/api/v1/imports/prompts", {"file": upload("p.csv", content), "skip_bad": "true"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["errors"]) == (1, 1)
    assert body["bad_rows"][0]["line"] == 3
    assert body["bad_rows"][0]["field"] == "instruction"
    assert list(Prompt.objects.values_list("external_id", flat=True)) == ["a"]


@pytest.mark.parametrize(
    ("name", "content", "fields", "message"),
    [
        ("p.csv", "instruction\ncaf\xe9\n".encode("latin-1"), {}, "not UTF-8"),
        ("p.csv", b"", {}, "empty"),
        ("p.json", b"\x89PNG\r\n\x1a\n\x00\x00", {}, "not UTF-8"),
        ("p.json", b"[{]", {}, "not valid JSON"),
        ("p.csv", b"prompt\nhello\n", {}, "Missing required column(s): instruction"),
        ("p.bin", b"instruction\nhello\n", {}, "Cannot tell the format"),
        ("p.csv", b"instruction\nhello\n", {"format": "xml"}, "format"),
    ],
)
def test_malformed_files_give_a_clear_400(pm_api, name, content, fields, message):
    response = pm_api.post("/api/v1/imports/prompts", {"file": upload(name, content), **fields})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in {"malformed_file", "invalid"}
    assert message in error["message"]
    assert Prompt.objects.count() == 0


def test_missing_file_is_400(pm_api):
    response = pm_api.post("/api/v1/imports/prompts", {"skip_bad": "true"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_format_field_overrides_the_extension(pm_api):
    response = pm_api.post(
        "/api/v1/imports/prompts",
        {"file": upload("prompts.txt", b'{"instruction": "hello"}\n'), "format": "jsonl"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "jsonl"


def test_outputs_import_with_create_models(pm_api):
    PromptFactory(external_id="p1")
    PromptFactory(external_id="p2")
    refused = pm_api.post("/api/v1/imports/outputs", {"file": upload("outputs.csv")})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["errors"][0]["field"] == "model"
    assert Output.objects.count() == 0 and ModelVersion.objects.count() == 0

    response = pm_api.post(
        "/api/v1/imports/outputs", {"file": upload("outputs.csv"), "create_models": "true"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["models_created"] == ["base-7b", "tuned-7b"]
    assert Output.objects.count() == 3


def test_battles_import_records_votes_once(pm_api, pm):
    form = {"campaign": "arena", "baseline": "base-7b", "candidate": "tuned-7b"}
    response = pm_api.post("/api/v1/imports/battles", {"file": upload("battles.json"), **form})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["recorded"], body["skipped_other_pairs"], body["campaign_created"]) == (4, 1, True)
    campaign = Campaign.objects.get(name="arena")
    assert body["campaign_id"] == campaign.pk
    assert campaign.created_by == pm
    again = pm_api.post("/api/v1/imports/battles", {"file": upload("battles.json"), **form})
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 4)
    assert Vote.objects.count() == 4


def test_battles_import_needs_campaign_and_models(pm_api):
    response = pm_api.post("/api/v1/imports/battles", {"file": upload("battles.json")})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Campaign.objects.count() == 0


def test_schema_documents_the_import_endpoints(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    for kind in ("prompts", "outputs", "battles"):
        operation = schema["paths"][f"/api/v1/imports/{kind}"]["post"]
        assert "multipart/form-data" in operation["requestBody"]["content"]
        assert {"201", "400"} <= set(operation["responses"])
    battles_form = schema["components"]["schemas"]["BattlesUploadRequest"]
    assert {"file", "campaign", "baseline", "candidate", "skip_bad"} <= set(
        battles_form["properties"]
    )
