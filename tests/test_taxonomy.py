"""Label taxonomy: create, rename, describe, move (no cycles) and merge without losing history;
imports naming an old or merged label land on the current one; API, CLI and pages with roles."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from evalhub.models import AuditEvent, Label, LabelEvent, Prompt
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.imports import import_file_read, prompts_import
from evalhub.services.labels import (
    label_create,
    label_describe,
    label_merge,
    label_move,
    label_rename,
    labels_resolve,
)
from tests.test_training_helpers import add_votes, campaign_with_texts
from training.models import PreferencePair
from training.services.pairs import pairs_build

pytestmark = pytest.mark.django_db


def _import(text: str) -> None:
    table = import_file_read(data=text.encode(), filename="p.jsonl", format="jsonl")
    prompts_import(table=table)


def test_create_rename_describe_move_write_history(pm):
    billing = label_create(name="billing", actor=pm)
    refund = label_create(name=" billing / refund ", parent=billing, description="Money back")
    assert refund.name == "billing/refund" and refund.parent == billing
    with pytest.raises(Conflict):
        label_create(name="billing")
    with pytest.raises(InvalidInput):
        label_create(name="a//b")
    label_rename(label=billing, name="payments", actor=pm)
    label_describe(label=billing, description="Anything about paying", actor=pm)
    shipping = label_create(name="shipping")
    label_move(label=refund, parent=shipping, actor=pm)
    events = list(LabelEvent.objects.filter(label=billing).order_by("id"))
    assert [e.action for e in events] == ["create", "rename", "describe"]
    assert (events[1].before, events[1].after) == ({"name": "billing"}, {"name": "payments"})
    assert events[1].actor == pm
    move = LabelEvent.objects.get(label=refund, action="move")
    assert (move.before, move.after) == ({"parent": billing.pk}, {"parent": shipping.pk})
    assert AuditEvent.objects.filter(action="label.rename", object_id=str(billing.pk)).exists()


def test_move_never_makes_a_cycle():
    root = label_create(name="root")
    child = label_create(name="root/child", parent=root)
    grandchild = label_create(name="root/child/leaf", parent=child)
    for target in (grandchild, child, root):
        with pytest.raises(InvalidInput, match="own ancestor"):
            label_move(label=root, parent=target)
    root.refresh_from_db()
    assert root.parent is None
    label_move(label=grandchild, parent=None)
    assert Label.objects.get(pk=grandchild.pk).parent is None


def test_merge_moves_prompts_pairs_and_children_and_keeps_the_label():
    campaign = campaign_with_texts(
        "tx",
        [("Refund please?", "no", "yes sure"), ("Money back?", "no", "of course"),
         ("Both labels?", "hm", "here you go")],
        labels=["refunds", "returns", "refunds"],
    )  # fmt: skip
    refunds, returns = Label.objects.get(name="refunds"), Label.objects.get(name="returns")
    both = Prompt.objects.get(instruction="Both labels?")
    both.labels.add(returns)  # a prompt that has both keeps one link to the survivor
    child = label_create(name="refunds/partial", parent=refunds)
    add_votes(campaign, [["candidate"] * 2] * 3)
    pairs_build(sources=["pairwise"])
    refund_pairs = sorted(
        PreferencePair.labels.through.objects.filter(label=refunds).values_list(
            "preferencepair_id", flat=True
        )
    )
    assert len(refund_pairs) == 2
    refund_prompts = sorted(refunds.prompts.values_list("pk", flat=True))
    event = label_merge(label=refunds, into=returns)
    refunds.refresh_from_db()
    assert (refunds.is_active, refunds.merged_into) == (False, returns)
    assert event.moved["evalhub.prompt"] == refund_prompts
    assert event.moved["training.preferencepair"] == refund_pairs
    assert event.moved["evalhub.label"] == [child.pk]
    assert Label.objects.get(pk=child.pk).parent == returns
    assert not refunds.prompts.exists()
    assert returns.prompts.count() == 3 and both.labels.count() == 1
    assert PreferencePair.labels.through.objects.filter(label=returns).count() == 3
    with pytest.raises(Conflict, match="merged"):
        label_rename(label=refunds, name="again")
    with pytest.raises(InvalidInput):
        label_merge(label=returns, into=returns)


def test_merge_into_a_descendant_is_refused():
    parent = label_create(name="p")
    kid = label_create(name="p/k", parent=parent)
    with pytest.raises(InvalidInput, match="descendant"):
        label_merge(label=parent, into=kid)


def test_imports_that_name_old_or_merged_labels_land_on_the_current_one():
    _import('{"instruction": "first", "labels": ["billing/refund", "tone"]}\n')
    billing, tone = Label.objects.get(name="billing"), Label.objects.get(name="tone")
    assert LabelEvent.objects.filter(action="create", after__via="import").count() == 3
    label_rename(label=billing, name="payments")
    polite = label_create(name="politeness")
    label_merge(label=tone, into=polite)
    assert labels_resolve(["billing", "tone", "nothing"]) == {
        "billing": billing.pk, "tone": polite.pk,
    }  # fmt: skip
    _import('{"instruction": "second", "labels": ["billing", "tone", "billing/new"]}\n')
    second = Prompt.objects.get(instruction="second")
    assert sorted(second.labels.values_list("name", flat=True)) == [
        "billing/new", "payments", "politeness",
    ]  # fmt: skip
    assert Label.objects.get(name="billing/new").parent == billing
    assert not Label.objects.filter(name="billing").exists()
    # A name freed by a rename and then reused belongs to the new label.
    fresh = label_create(name="billing")
    assert labels_resolve(["billing"]) == {"billing": fresh.pk}


def test_api_roles_and_changes(make_user):
    pm, rater, expert = make_user("p", "pm"), make_user("r", "rater"), make_user("e", "expert")
    client = APIClient()
    assert client.get("/api/v1/labels").status_code == 401
    for user in (rater, expert):
        client.force_authenticate(user)
        assert client.get("/api/v1/labels").status_code == 403
        assert client.post("/api/v1/labels", {"name": "x"}, format="json").status_code == 403
    client.force_authenticate(pm)
    root = client.post("/api/v1/labels", {"name": "orders"}, format="json").json()
    kid = client.post(
        "/api/v1/labels", {"name": "orders/late", "parent": root["id"]}, format="json"
    ).json()
    other = client.post("/api/v1/labels", {"name": "delays"}, format="json").json()
    tree = client.get("/api/v1/labels").json()
    assert [n["name"] for n in tree] == ["delays", "orders"]
    assert tree[1]["children"][0]["name"] == "orders/late"
    patched = client.patch(
        f"/api/v1/labels/{kid['id']}",
        {"name": "orders/delayed", "description": "Late parcels", "parent": None},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["parent"] is None
    cycle = client.patch(f"/api/v1/labels/{root['id']}", {"parent": root["id"]}, format="json")
    assert cycle.status_code == 400
    merged = client.post(f"/api/v1/labels/{kid['id']}/merge", {"into": other["id"]}, format="json")
    assert merged.status_code == 200 and merged.json()["action"] == "merge"
    detail = client.get(f"/api/v1/labels/{kid['id']}").json()
    assert detail["merged_into"] == other["id"]
    assert [e["action"] for e in detail["events"]] == [
        "merge",
        "move",
        "describe",
        "rename",
        "create",
    ]
    assert client.get("/api/v1/labels").json()[0]["name"] == "delays"
    assert len(client.get("/api/v1/labels?merged=1").json()) == 3


def test_cli_list_rename_move_merge_history():
    out = io.StringIO()
    call_command("labels", "create", "faq", stdout=out)
    call_command("labels", "create", "faq/hours", "--parent", "faq", stdout=out)
    call_command("labels", "create", "opening", stdout=out)
    call_command("labels", "rename", "faq/hours", "faq/opening-hours", stdout=out)
    call_command("labels", "move", "opening", "--parent", "faq", stdout=out)
    with pytest.raises(CommandError, match="own ancestor"):
        call_command("labels", "move", "faq", "--parent", "opening")
    call_command("labels", "merge", "opening", "faq/opening-hours", stdout=out)
    with pytest.raises(CommandError, match="No label"):
        call_command("labels", "rename", "ghost", "x")
    listing = io.StringIO()
    call_command("labels", "list", "--json", "--merged", stdout=listing)
    tree = json.loads(listing.getvalue())
    assert tree[0]["name"] == "faq"
    names = {child["name"]: child for child in tree[0]["children"]}
    assert names["opening"]["merged_into"] == names["faq/opening-hours"]["id"]
    history = io.StringIO()
    call_command("labels", "history", "faq/opening-hours", stdout=history)
    assert '{"name": "faq/hours"} -> {"name": "faq/opening-hours"}' in history.getvalue()


def test_pages_need_roles_and_forms_need_csrf(make_user):
    pm, rater = make_user("p", "pm"), make_user("r", "rater")
    label = label_create(name="<b>bold</b>", description="<script>alert(1)</script>")
    anonymous = Client()
    assert anonymous.get("/data/labels/").status_code == 302
    as_rater = Client()
    as_rater.force_login(rater)
    assert as_rater.get("/data/labels/").status_code == 403
    assert as_rater.post(f"/data/labels/{label.pk}/rename", {"name": "x"}).status_code == 403
    page = Client()
    page.force_login(pm)
    html = page.get(f"/data/labels/?label={label.pk}").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<script>alert(1)" not in html
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(pm)
    assert strict.post(f"/data/labels/{label.pk}/rename", {"name": "y"}).status_code == 403
    response = page.post(f"/data/labels/{label.pk}/rename", {"name": "bold"})
    assert response.status_code == 302 and Label.objects.get(pk=label.pk).name == "bold"
    page.post("/data/labels/new", {"name": "other"})
    other = Label.objects.get(name="other")
    page.post(f"/data/labels/{label.pk}/merge", {"into": other.pk})
    assert Label.objects.get(pk=label.pk).merged_into == other
    follow = page.get(f"/data/labels/?label={label.pk}")
    assert "Merged into" in follow.content.decode()
