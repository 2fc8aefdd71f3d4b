"""/data/ source pages: roles, CSRF, escaping, the create and edit forms, a bounded query count;
and the same flow in real Chromium (register a source, see its figures, rename a label)."""

from __future__ import annotations

import pytest
from django.test import Client

from evalhub.models import AuditEvent, DataSource, Label, Prompt
from evalhub.services.sources import data_source_create
from tests.browser import log_in, screenshot
from tests.test_training_helpers import add_votes, campaign_with_texts
from training.services.pairs import pairs_build

PASSWORD = "pw-secret-1"


def _client(user=None, **kwargs) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
def test_roles_on_every_source_page(make_user):
    source = data_source_create(name="logs", kind="own_logs")
    users = {role: make_user(f"u-{role}", role) for role in ("rater", "agent", "expert", "pm")}
    pages = ["/data/", "/data/sources/new", f"/data/sources/{source.pk}/"]
    for path in pages:
        assert _client().get(path).status_code == 302
        for role in ("rater", "agent", "expert"):
            assert _client(users[role]).get(path).status_code == 403, (role, path)
        assert _client(users["pm"]).get(path).status_code == 200, path
    edit = f"/data/sources/{source.pk}/edit"
    assert _client(users["expert"]).post(edit, {"name": "x", "kind": "public"}).status_code == 403
    assert DataSource.objects.get().name == "logs"


@pytest.mark.django_db
def test_create_and_edit_forms_with_csrf_and_escaping(pm, django_assert_max_num_queries):
    strict = _client(pm, enforce_csrf_checks=True)
    form = {"name": "<img src=x onerror=alert(1)>", "kind": "public", "quality_grade": "B",
            "licence": "CC-BY", "url": "https://example.org/card", "is_active": "on"}  # fmt: skip
    assert strict.post("/data/sources/new", form).status_code == 403
    page = _client(pm)
    created = page.post("/data/sources/new", form)
    source = DataSource.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/data/sources/{source.pk}/"
    assert source.created_by == pm and source.quality_grade == "B"
    assert AuditEvent.objects.filter(action="datasource.create", via="page").exists()
    Prompt.objects.create(instruction="one", data_source=source)
    with django_assert_max_num_queries(15):
        listing = page.get("/data/")
    html = listing.content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    duplicate = page.post("/data/sources/new", {**form, "name": form["name"].upper()})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()
    retire = {k: v for k, v in form.items() if k != "is_active"}  # an unticked box
    edited = page.post(
        f"/data/sources/{source.pk}/edit", {**retire, "name": "Public card", "quality_grade": "A"}
    )
    assert edited.status_code == 302
    source.refresh_from_db()
    assert (source.name, source.quality_grade, source.is_active) == ("Public card", "A", False)
    detail = page.get(f"/data/sources/{source.pk}/").content.decode()
    assert "retired" in detail and "/api/v1/sources/" in detail


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pm_registers_a_source_and_renames_a_label_in_the_browser(
    live_server, browser_page, make_user
):
    make_user("data-pm", "pm", password=PASSWORD)
    Label.objects.create(name="billing")
    page = browser_page
    log_in(page, live_server.url, "data-pm", PASSWORD, next_path="/data/")
    page.get_by_role("link", name="Register a source").click()
    page.fill("#id_name", "Helpdesk export")
    page.select_option("#id_kind", "online")
    page.select_option("#id_quality_grade", "B")
    page.fill("#id_owner", "Support operations")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").first.click()
    assert page.get_by_role("heading", name="Helpdesk export").is_visible()
    source = DataSource.objects.get(name="Helpdesk export")
    assert (source.kind, source.owner) == ("online", "Support operations")
    Prompt.objects.create(instruction="Where is my refund?", data_source=source)
    page.goto(f"{live_server.url}/data/")
    row = page.locator("#sources-table tbody tr", has_text="Helpdesk export")
    assert row.locator("td").nth(3).inner_text() == "1"
    screenshot(page, "data-sources.png")
    page.goto(f"{live_server.url}/data/labels/")
    page.get_by_role("link", name="billing").click()
    page.fill("#id_name", "payments")
    with page.expect_navigation():
        page.get_by_role("button", name="Rename").click()
    assert "Renamed 'billing' to 'payments'" in page.content()
    assert Label.objects.get().name == "payments"
    screenshot(page, "data-labels.png")

    texts = [(f"Where is parcel {i}?", f"Later {i}.", f"It ships today ({i}).") for i in range(4)]
    campaign = campaign_with_texts(
        "results", texts, labels=["shipping", "shipping", "returns", None]
    )
    add_votes(campaign, [["candidate", "candidate", "baseline"]] * 3 + [["tie", "tie"]])
    pairs_build(sources=["pairwise"])
    page.goto(f"{live_server.url}/data/results/")
    page.select_option("#id_campaign", str(campaign.pk))
    page.fill("#id_min_pairs", "2")
    page.fill("#id_min_decisive", "6")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    rows = page.locator("#label-results tbody tr")
    shipping = rows.filter(has_text="shipping")
    assert "enough" in shipping.inner_text() and "6 (6)" in shipping.inner_text()
    assert "data missing" in rows.filter(has_text="returns").inner_text()
    screenshot(page, "data-results.png")
