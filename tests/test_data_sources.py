"""Data source registry: services (audited), API with permissions, imports that name a source,
and the continuous, append-only, idempotent import of records from an online system."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from evalhub.models import (
    AuditEvent,
    DataSource,
    Label,
    ModelVersion,
    Output,
    Prompt,
    Vote,
)
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.sources import data_source_create, data_source_update

pytestmark = pytest.mark.django_db


def _api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def crm(db) -> DataSource:
    return data_source_create(name="crm-tickets", kind="online", owner="support ops")


# -- services ----------------------------------------------------------------------------------


def test_create_and_update_are_audited_and_names_unique_regardless_of_case(pm):
    source = data_source_create(
        name="  Helpdesk logs ", kind="own_logs", quality_grade="B", created_by=pm
    )
    assert (source.name, source.kind, source.quality_grade, source.created_by) == (
        "Helpdesk logs", "own_logs", "B", pm,
    )  # fmt: skip
    created = AuditEvent.objects.get(action="datasource.create")
    assert created.object_id == str(source.pk) and created.after["name"] == "Helpdesk logs"
    with pytest.raises(Conflict):
        data_source_create(name="helpdesk LOGS", kind="public")
    updated = data_source_update(source=source, quality_grade="A", is_active=False)
    assert (updated.quality_grade, updated.is_active) == ("A", False)
    change = AuditEvent.objects.get(action="datasource.change")
    assert change.before == {"quality_grade": "B", "is_active": True}
    assert change.after == {"quality_grade": "A", "is_active": False}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "telepathy"}, "kind"),
        ({"quality_grade": "E"}, "quality_grade"),
        ({"name": " "}, "name"),
    ],
)
def test_invalid_fields_are_refused_with_the_field(crm, changes, field):
    with pytest.raises(InvalidInput) as caught:
        data_source_update(source=crm, **changes)
    assert caught.value.details["field"] == field
    crm.refresh_from_db()
    assert crm.kind == "online" and crm.name == "crm-tickets"


# -- API ---------------------------------------------------------------------------------------


def test_api_roles_pm_manages_others_are_refused(make_user, crm):
    pm, rater, expert = make_user("p", "pm"), make_user("r", "rater"), make_user("e", "expert")
    body = {"name": "arena dump", "kind": "public", "licence": "CC-BY 4.0", "quality_grade": "C"}
    for user in (rater, expert):
        assert _api(user).post("/api/v1/sources", body, format="json").status_code == 403
        assert _api(user).get("/api/v1/sources").status_code == 403
    assert _api().get("/api/v1/sources").status_code == 401
    created = _api(pm).post("/api/v1/sources", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["created_by"] == "p" and created.json()["licence"] == "CC-BY 4.0"
    listed = _api(pm).get("/api/v1/sources").json()
    assert [s["name"] for s in listed] == ["arena dump", "crm-tickets"]
    again = _api(pm).post("/api/v1/sources", {**body, "name": "ARENA DUMP"}, format="json")
    assert again.status_code == 409 and set(again.json()["error"]) == {"code", "message", "details"}
    patched = _api(pm).patch(f"/api/v1/sources/{crm.pk}", {"quality_grade": "A"}, format="json")
    assert patched.status_code == 200 and patched.json()["quality_grade"] == "A"
    bad = _api(pm).patch(f"/api/v1/sources/{crm.pk}", {"kind": "rumours"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"


# -- imports naming a source -------------------------------------------------------------------


def test_import_prompts_cli_source_sets_data_source_and_unknown_source_fails(tmp_path, crm):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"instruction": "Reset my password", "external_id": "t-1"}\n'
        '{"instruction": "Cancel my order", "external_id": "t-2", "source": "email"}\n'
    )
    with pytest.raises(CommandError, match="No data source 'nope'"):
        call_command("import_prompts", str(path), "--source", "nope", stdout=io.StringIO())
    assert not Prompt.objects.exists()
    call_command("import_prompts", str(path), "--source", "CRM-tickets", stdout=io.StringIO())
    prompts = {p.external_id: p for p in Prompt.objects.all()}
    assert {p.data_source_id for p in prompts.values()} == {crm.pk}
    assert (prompts["t-1"].source, prompts["t-2"].source) == ("crm-tickets", "email")


def test_import_outputs_and_battles_with_source(tmp_path, crm):
    Prompt.objects.create(instruction="Where is my parcel?", external_id="q1")
    ModelVersion.objects.create(name="base-m")
    outputs = tmp_path / "o.jsonl"
    outputs.write_text('{"prompt_external_id": "q1", "model": "base-m", "text": "Soon."}\n')
    call_command("import_outputs", str(outputs), "--source", str(crm.pk), stdout=io.StringIO())
    assert Output.objects.get().data_source == crm
    battles = tmp_path / "b.jsonl"
    battles.write_text(
        '{"model_a": "base-m", "model_b": "cand-m", "winner": "model_b", "question_id": "q9", '
        '"prompt": "Refund?", "answer_a": "No.", "answer_b": "Yes, today."}\n'
    )
    call_command(
        "import_battles", str(battles), "--campaign", "arena", "--baseline", "base-m",
        "--candidate", "cand-m", "--source", "crm-tickets", stdout=io.StringIO(),
    )  # fmt: skip
    vote = Vote.objects.get()
    assert vote.data_source == crm and vote.prompt.data_source == crm
    assert {o.data_source_id for o in Output.objects.filter(prompt=vote.prompt)} == {crm.pk}


def test_import_api_takes_a_source_field(pm, crm):
    upload = SimpleUploadedFile("p.csv", b"instruction,external_id\nHello there,a1\n")
    response = _api(pm).post(
        "/api/v1/imports/prompts", {"file": upload, "source": "crm-tickets"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert Prompt.objects.get().data_source == crm
    upload = SimpleUploadedFile("p.csv", b"instruction,external_id\nHi again,a2\n")
    unknown = _api(pm).post(
        "/api/v1/imports/prompts", {"file": upload, "source": "ghost"}, format="multipart"
    )
    assert unknown.status_code == 400 and "source" in unknown.json()["error"]["message"]
    assert Prompt.objects.count() == 1


# -- continuous import -------------------------------------------------------------------------


def _records(n: int, *, prefix: str = "ext", outputs: bool = True) -> list[dict]:
    return [
        {
            "external_id": f"{prefix}-{i}",
            "instruction": f"Customer question number {i}",
            "labels": ["billing/refund"] if i % 2 else ["shipping"],
            **({"outputs": [{"model": "prod-v1", "text": f"Answer {i}"}]} if outputs else {}),
        }
        for i in range(n)
    ]


def _push(user, source, records, **headers):
    return _api(user).post(
        f"/api/v1/sources/{source.pk}/records",
        {"records": records},
        format="json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )


def test_records_are_appended_and_a_retried_batch_changes_nothing(pm, crm):
    ModelVersion.objects.create(name="prod-v1")
    first = _push(pm, crm, _records(4))
    assert first.status_code == 200, first.json()
    report = first.json()
    assert (report["created"], report["unchanged"], report["accepted"]) == (4, 0, 4)
    assert report["outputs_created"] == 4
    assert sorted(report["labels_created"]) == ["billing", "billing/refund", "shipping"]
    assert Prompt.objects.filter(data_source=crm).count() == 4
    assert Output.objects.filter(data_source=crm, origin="imported").count() == 4
    assert Label.objects.get(name="billing/refund").parent.name == "billing"
    assert AuditEvent.objects.filter(action="datasource.records", object_id=str(crm.pk)).exists()
    rows = (Prompt.objects.count(), Output.objects.count(), Prompt.labels.through.objects.count())
    again = _push(pm, crm, _records(4)).json()
    assert (again["created"], again["unchanged"], again["accepted"]) == (0, 4, 4)
    assert (again["outputs_created"], again["outputs_unchanged"]) == (0, 4)
    assert again["conflicts"] == [] and again["output_conflicts"] == []
    assert rows == (
        Prompt.objects.count(), Output.objects.count(), Prompt.labels.through.objects.count()
    )  # fmt: skip


def test_idempotency_key_replays_the_first_response(pm, crm):
    ModelVersion.objects.create(name="prod-v1")
    first = _push(pm, crm, _records(2), **{"Idempotency-Key": "batch-7"})
    replay = _push(pm, crm, _records(2), **{"Idempotency-Key": "batch-7"})
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json() and replay.json()["created"] == 2
    other = _push(pm, crm, _records(3), **{"Idempotency-Key": "batch-7"})
    assert other.status_code == 422
    assert Prompt.objects.count() == 2


def test_existing_external_ids_are_never_overwritten(pm, crm):
    ModelVersion.objects.create(name="prod-v1")
    _push(pm, crm, _records(2))
    other_source = data_source_create(name="forum", kind="user_generated")
    changed = _records(3)
    changed[0]["instruction"] = "A different question under the same id"
    changed[1]["outputs"] = [{"model": "prod-v1", "text": "A rewritten answer"}]
    report = _push(pm, crm, changed).json()
    assert (report["created"], report["unchanged"]) == (1, 1)
    assert [(c["external_id"], c["reason"]) for c in report["conflicts"]] == [
        ("ext-0", "content_differs")
    ]
    assert [(c["external_id"], c["reason"]) for c in report["output_conflicts"]] == [
        ("ext-1", "text_differs")
    ]
    assert Prompt.objects.get(external_id="ext-0").instruction == "Customer question number 0"
    assert Output.objects.get(prompt__external_id="ext-1").text == "Answer 1"
    foreign = _push(pm, other_source, _records(1)).json()
    assert foreign["conflicts"][0]["reason"] == "other_source"
    assert Prompt.objects.get(external_id="ext-0").data_source == crm
    same_text = [{"external_id": "new-id", "instruction": "Customer question number 2"}]
    duplicate = _push(pm, crm, same_text).json()
    assert duplicate["created"] == 0 and duplicate["duplicates"][0]["external_id"] == "new-id"


def test_new_outputs_of_a_known_prompt_are_appended(pm, crm):
    ModelVersion.objects.create(name="prod-v1")
    ModelVersion.objects.create(name="prod-v2")
    _push(pm, crm, _records(1))
    record = {**_records(1)[0], "outputs": [{"model": "prod-v2", "text": "Newer answer"}]}
    report = _push(pm, crm, [record]).json()
    assert (report["unchanged"], report["outputs_created"]) == (1, 1)
    assert Output.objects.filter(prompt__external_id="ext-0").count() == 2


def test_bad_records_are_named_and_nothing_is_stored(pm, crm):
    ModelVersion.objects.create(name="prod-v1")
    records = _records(3)
    records[1].pop("instruction")
    records[2]["outputs"] = [{"model": "unknown-model", "text": "x"}]
    response = _push(pm, crm, [*records, "not an object", {"instruction": "no id"}])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    found = {(e["where"], e["field"]) for e in error["details"]["errors"]}
    assert found == {
        ("item 2", "instruction"), ("item 3", "outputs.model"), ("item 4", "row"),
        ("item 5", "external_id"),
    }  # fmt: skip
    assert not Prompt.objects.exists() and not Output.objects.exists()
    skipped = _api(pm).post(
        f"/api/v1/sources/{crm.pk}/records", {"records": records, "skip_bad": True}, format="json"
    )
    assert skipped.status_code == 200 and skipped.json()["created"] == 1
    assert len(skipped.json()["bad_records"]) == 2


def test_retired_source_takes_no_records_and_roles_are_checked(make_user, crm):
    pm, rater = make_user("p", "pm"), make_user("r", "rater")
    assert _push(rater, crm, _records(1, outputs=False)).status_code == 403
    assert _push(None, crm, _records(1, outputs=False)).status_code == 401
    data_source_update(source=crm, is_active=False)
    retired = _push(pm, crm, _records(1, outputs=False))
    assert retired.status_code == 409 and "retired" in retired.json()["error"]["message"]
    assert _push(pm, crm, []).status_code == 400
    assert not Prompt.objects.exists()


# -- CLI ---------------------------------------------------------------------------------------


def test_sources_cli_add_list_update_push(tmp_path):
    out = io.StringIO()
    call_command("sources", "add", "Expert team", "--kind", "expert", "--grade", "A", stdout=out)
    assert "Registered source" in out.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command("sources", "add", "expert TEAM", "--kind", "public")
    call_command("sources", "update", "Expert team", "--owner", "QA", "--retire", stdout=out)
    source = DataSource.objects.get()
    assert (source.owner, source.is_active, source.quality_grade) == ("QA", False, "A")
    listed = io.StringIO()
    call_command("sources", "list", "--json", stdout=listed)
    assert json.loads(listed.getvalue())[0]["is_active"] is False
    call_command("sources", "update", "Expert team", "--activate", stdout=out)
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _records(3, outputs=False)) + "\n")
    pushed = io.StringIO()
    call_command("sources", "push", "Expert team", str(path), stdout=pushed)
    assert "3 records, 3 new, 0 unchanged" in pushed.getvalue()
    again = io.StringIO()
    call_command("sources", "push", "Expert team", str(path), "--json", stdout=again)
    assert json.loads(again.getvalue())["unchanged"] == 3
    assert Prompt.objects.filter(data_source=source).count() == 3
