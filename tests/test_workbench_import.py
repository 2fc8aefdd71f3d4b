"""python manage.py import_conversations FILE --campaign C: JSONL, JSON and CSV; re-import changes
nothing; bad records are listed with their line and never block the others; --dry-run."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feedback.models import Conversation
from tests.test_feedback_helpers import conversation_messages, feedback_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    return feedback_campaign("workbench", name="imp")


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_conversations", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_jsonl_import_is_idempotent_and_reports_bad_lines(tmp_path, campaign):
    lines = [
        json.dumps(
            {"external_id": f"T-{i}", "channel": "chat", "messages": conversation_messages(i)}
        )
        for i in range(3)
    ]
    lines.insert(1, "{not json")
    lines.append(json.dumps({"id": "T-9", "messages": [{"role": "agent", "text": "Hello"}]}))
    path = tmp_path / "conversations.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out, err = run(path, "--campaign", campaign.name)
    assert "queued 3 conversation(s)" in out and "2 error(s)" in out
    assert (
        "line 2: not valid JSON" in err and "line 5: The last message must be the customer's" in err
    )
    assert Conversation.objects.filter(campaign=campaign, status="queued").count() == 3
    out, _ = run(path, "--campaign", campaign.pk)
    assert "queued 0 conversation(s)" in out and "3 already there" in out
    assert Conversation.objects.count() == 3


def test_csv_import_groups_rows_by_conversation(tmp_path, campaign):
    path = tmp_path / "export.csv"
    path.write_text(
        "conversation_id,role,text,channel,subject\n"
        "A,customer,My order is late,email,Late order\n"
        "B,user,Can I change my address?,chat,\n"
        "A,agent,Which order?,email,\n"
        'A,customer,"Order 55, placed Monday",email,\n'
    )
    out, _ = run(path, "--campaign", campaign.name)
    assert "queued 2 conversation(s)" in out
    a = Conversation.objects.get(external_id="A")
    assert [m["role"] for m in a.messages] == ["customer", "agent", "customer"]
    assert a.subject == "Late order" and a.channel == "email"
    assert a.prompt.instruction == "Order 55, placed Monday"


def test_dry_run_and_errors(tmp_path, campaign):
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"external_id": "X", "messages": conversation_messages(1)}]))
    out, _ = run(path, "--campaign", campaign.name, "--dry-run")
    assert "would queue 1" in out and Conversation.objects.count() == 0
    with pytest.raises(CommandError, match="No campaign"):
        run(path, "--campaign", "nope")
    pairwise = feedback_campaign("pairwise", name="pw")
    with pytest.raises(CommandError, match="not a workbench campaign"):
        run(path, "--campaign", pairwise.name)
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what\n1,2\n")
    with pytest.raises(CommandError, match="conversation_id, role and text"):
        run(bad, "--campaign", campaign.name)
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "missing.jsonl", "--campaign", campaign.name)
    assert Conversation.objects.count() == 0


def test_feedback_client_prints_a_token_that_can_only_send_feedback(api_client):
    out = StringIO()
    call_command("feedback_client", "web-shop", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert (
        api_client.post("/api/v1/feedback/thumbs", {"value": "up"}, format="json").status_code
        == 400
    )
    assert api_client.post("/api/v1/workbench/conversations", {}, format="json").status_code == 403
    assert api_client.get("/api/v1/campaigns").status_code in (401, 403)
