"""Roles, the adduser command, the admin's read-only history, production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_adduser_prints_working_token(capsys, api_client):
    call_command("adduser", "ann", "--role", "rater", "--password", "long-password")
    token = capsys.readouterr().out.strip()
    user = get_user_model().objects.get(username="ann")
    assert Token.objects.get(user=user).key == token
    assert user.check_password("long-password")
    assert user.has_perm("evalhub.rate_campaign") and not user.has_perm("evalhub.view_reports")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/campaigns").status_code == 403  # a rater, authenticated


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "perm", "staff"),
    [
        ("rater", "evalhub.rate_campaign", False),
        ("agent", "evalhub.use_workbench", False),
        ("pm", "evalhub.view_reports", True),
        ("admin", "evalhub.delete_campaign", True),
    ],
)
def test_roles_grant_their_permissions(make_user, role, perm, staff):
    user = make_user(f"u-{role}", role)
    assert user.has_perm(perm)
    assert user.is_staff is staff
    if role != "admin":
        assert not user.has_perm("evalhub.delete_vote")


@pytest.mark.django_db
def test_adduser_rejects_unknown_role_and_short_password():
    with pytest.raises(CommandError):
        call_command("adduser", "x", "--role", "boss")
    with pytest.raises(CommandError, match="8 characters"):
        call_command("adduser", "x", "--role", "rater", "--password", "short")
    assert not get_user_model().objects.filter(username="x").exists()


@pytest.mark.django_db
def test_admin_votes_are_read_only(client, make_user, open_campaign):
    from evalhub.models import Vote

    admin = make_user("boss", "admin")
    comparison = open_campaign.comparisons.first()
    vote = Vote.objects.create(
        campaign=open_campaign,
        comparison=comparison,
        prompt=comparison.prompt,
        choice="tie",
        outcome="tie",
    )
    client.force_login(admin)
    assert client.get("/admin/evalhub/vote/").status_code == 200
    page = client.get(f"/admin/evalhub/vote/{vote.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    client.post(f"/admin/evalhub/vote/{vote.pk}/delete/", {"post": "yes"})
    assert Vote.objects.filter(pk=vote.pk).exists()
    assert client.get("/admin/evalhub/campaign/").status_code == 200


def _run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "EVALHUB_ENV", "DATABASE_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "evalhub.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_default_secret():
    result = _run_settings({"EVALHUB_ENV": "production"})
    assert result.returncode != 0
    assert "needs a real SECRET_KEY" in result.stderr
    ok = _run_settings({"EVALHUB_ENV": "production", "SECRET_KEY": "k" * 64, "ALLOWED_HOSTS": "x"})
    assert ok.returncode == 0, ok.stderr


def test_schema_documents_rater_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if "json" in response["Content-Type"] else None
    text = response.content.decode()
    assert "/api/v1/campaigns/{id}/next" in text and "/api/v1/votes" in text
    assert schema is None or schema["openapi"].startswith("3.")
