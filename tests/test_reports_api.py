"""GET /api/v1/campaigns/{id}/report: JSON, CSV, permissions, errors, schema."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.test_reports_data import add_votes, label_prompts, make_campaign

pytestmark = pytest.mark.django_db

C, B = "candidate", "baseline"


@pytest.fixture
def campaign():
    campaign = make_campaign(n_prompts=3)
    add_votes(campaign, [[C, C], [C, B], [B, C]])
    label_prompts(campaign, [["billing"], ["billing", "tech"], []])
    return campaign


def url(campaign_id: int) -> str:
    return f"/api/v1/campaigns/{campaign_id}/report"


@pytest.fixture
def pm_api(api_client, pm):
    api_client.force_authenticate(pm)
    return api_client


def test_pm_gets_the_json_report(pm_api, campaign):
    response = pm_api.get(url(campaign.pk), {"bootstrap": "false"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["wins"], body["losses"], body["n_votes"]) == (4, 2, 6)
    assert body["campaign"]["id"] == campaign.pk
    assert {row["label"] for row in body["by_label"]} == {"billing", "tech"}
    assert "by_rater" not in body


def test_breakdowns_by_rater_and_day(pm_api, campaign):
    assert len(pm_api.get(url(campaign.pk), {"by": "rater"}).json()["by_rater"]) == 2
    assert len(pm_api.get(url(campaign.pk), {"by": "day"}).json()["by_day"]) == 1


def test_csv_download(pm_api, campaign):
    response = pm_api.get(url(campaign.pk), {"format": "csv", "by": "label"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign.pk}-report.csv"'
    )
    frame = pd.read_csv(io.StringIO(response.content.decode()))
    assert frame["slice"].tolist()[0] == "overall" and set(frame["slice"][1:]) == {
        "billing",
        "tech",
    }
    assert frame.loc[0, "wins"] == 4


def test_permissions(api_client, make_user, campaign):
    assert api_client.get(url(campaign.pk)).status_code == 401
    api_client.force_authenticate(make_user("rater7", "rater"))
    response = api_client.get(url(campaign.pk))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    api_client.force_authenticate(make_user("admin7", "admin"))
    assert api_client.get(url(campaign.pk)).status_code == 200


def test_token_auth_works_for_scripts(api_client, campaign):
    from evalhub.services.users import user_create_with_role

    token = user_create_with_role(username="pm-script", role="pm").token
    response = api_client.get(url(campaign.pk), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


def test_unknown_campaign_is_a_404_in_the_error_shape(pm_api):
    for fmt in ("json", "csv"):
        response = pm_api.get(url(999_999), {"format": fmt})
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["error"]["code"] == "not_found"


def test_bad_query_parameters_are_400(pm_api, campaign):
    for params in ({"by": "prompt"}, {"format": "xml"}, {"seed": "-1"}):
        response = pm_api.get(url(campaign.pk), params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid"


def test_the_endpoint_is_in_the_openapi_schema(pm_api):
    response = pm_api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/campaigns/{id}/report"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"by", "format"} <= names
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "404" in operation["responses"]
