"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL with DATABASE_URL set."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API + live_server
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def make_user(db):
    from evalhub.services.users import user_create_with_role

    def make(username: str, role: str = "rater", password: str = "pw-secret-1"):
        return user_create_with_role(username=username, role=role, password=password).user

    return make


@pytest.fixture
def rater(make_user):
    return make_user("rater1", "rater")


@pytest.fixture
def pm(make_user):
    return make_user("pm1", "pm")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def rater_api(api_client, rater):
    api_client.force_authenticate(rater)
    return api_client


@pytest.fixture
def open_campaign(db):
    from tests.factories import open_campaign_with_outputs

    return open_campaign_with_outputs(n_prompts=4, votes_per_prompt=2)


# Real-browser fixtures (Debian Chromium through Playwright), registered once for the session:
# a module-level copy would start a second Playwright while the first one runs.
from tests.browser import browser_page, chromium, new_browser_context  # noqa: E402, F401
