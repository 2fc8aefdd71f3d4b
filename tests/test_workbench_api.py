"""The support system's API: push conversations (idempotent, newer versions replace unanswered
ones), read replies once sent, poll; bad input stores nothing; only support accounts may call."""

from __future__ import annotations

import pytest

from evalhub.models import Prompt
from evalhub.services.campaigns import campaign_close
from feedback.models import Conversation, WorkbenchTurn
from feedback.services.workbench import (
    workbench_reply_send,
    workbench_suggestions_ensure,
    workbench_turn_open,
)
from tests import test_feedback_helpers as helpers
from tests.test_feedback_helpers import conversation_messages, feedback_campaign, product_user

agent, loopback, workbench = helpers.agent, helpers.loopback, helpers.workbench
pytestmark = pytest.mark.django_db
URL = "/api/v1/workbench/conversations"


@pytest.fixture
def helpdesk(api_client):
    api_client.force_authenticate(product_user("helpdesk", support_system=True))
    return api_client


def payload(campaign, number=1, **extra):
    return {"campaign": campaign.pk, "external_id": f"T-{number}", "channel": "email",
            "subject": f"Parcel {number}", "messages": conversation_messages(number), **extra}  # fmt: skip


def test_push_then_read_the_reply_once_sent(helpdesk, workbench, agent):
    pushed = helpdesk.post(URL, payload(workbench), format="json")
    assert pushed.status_code == 201, pushed.content
    body = pushed.json()
    assert body["status"] == "queued" and body["reply"] is None and body["external_id"] == "T-1"
    conversation = Conversation.objects.get(public_id=body["conversation"])
    prompt = conversation.prompt
    assert prompt.instruction.startswith("It is order A-1001")
    assert prompt.history == [[
        "Hi, my parcel 1 has not arrived.",
        "Sorry to hear that! Could you give me the order number?",
    ]]  # fmt: skip
    assert workbench.prompts.filter(pk=prompt.pk).exists()

    reply_url = f"{URL}/{body['conversation']}/reply"
    waiting = helpdesk.get(reply_url).json()
    assert waiting["status"] == "queued" and waiting["text"] is None

    turn = workbench_turn_open(conversation=conversation, agent=agent)
    turn = workbench_suggestions_ensure(turn=turn)
    workbench_reply_send(token=turn.token, agent=agent, slot=2, text="On its way, sorry!")
    sent = helpdesk.get(reply_url).json()
    assert sent["status"] == "sent" and sent["text"] == "On its way, sorry!" and sent["sent_at"]
    detail = helpdesk.get(f"{URL}/{body['conversation']}").json()
    assert detail["reply"]["text"] == "On its way, sorry!"
    polled = helpdesk.get(URL, {"campaign": workbench.pk, "status": "sent"}).json()
    assert [row["external_id"] for row in polled["results"]] == ["T-1"]
    since = helpdesk.get(URL, {"status": "sent", "since": sent["sent_at"]}).json()
    assert since["results"] == []


def test_pushing_again_is_idempotent_and_new_messages_replace_the_old_version(
    helpdesk, workbench, agent
):
    first = helpdesk.post(URL, payload(workbench), format="json")
    again = helpdesk.post(URL, payload(workbench), format="json")
    assert again.status_code == 200 and again.json()["conversation"] == first.json()["conversation"]
    keyed = helpdesk.post(URL, payload(workbench, 2), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    replay = helpdesk.post(URL, payload(workbench, 2), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == keyed.json()
    assert Conversation.objects.count() == 2

    old = Conversation.objects.get(public_id=first.json()["conversation"])
    turn = workbench_turn_open(conversation=old, agent=agent)
    longer = payload(workbench)
    longer["messages"] = [*longer["messages"], {"role": "customer", "text": "Hello??"}]
    newer = helpdesk.post(URL, longer, format="json")
    assert newer.status_code == 201
    old.refresh_from_db()
    turn.refresh_from_db()
    assert old.status == "superseded" and turn.status == "released"
    assert Conversation.objects.filter(external_id="T-1", status="queued").count() == 1


def test_bad_input_stores_nothing(helpdesk, workbench):
    pairwise = feedback_campaign("pairwise", name="pw")
    closed = feedback_campaign("workbench", name="closed")
    campaign_close(campaign=closed)
    good = payload(workbench)
    cases = {
        "ends with the agent": ({**good, "messages": good["messages"][:2]}, 400),
        "unknown role": ({**good, "messages": [{"role": "bot", "text": "hi"}]}, 400),
        "empty text": ({**good, "messages": [{"role": "customer", "text": "  "}]}, 400),
        "no messages": ({**good, "messages": []}, 400),
        "messages not a list": ({**good, "messages": "hello"}, 400),
        "foreign campaign": ({**good, "campaign": pairwise.pk}, 400),
        "unknown campaign": ({**good, "campaign": 987654}, 404),
        "closed campaign": ({**good, "campaign": closed.pk}, 409),
        "no campaign": ({k: v for k, v in good.items() if k != "campaign"}, 400),
    }
    before = (Conversation.objects.count(), Prompt.objects.count())
    for name, (body, status) in cases.items():
        response = helpdesk.post(URL, body, format="json")
        assert response.status_code == status, (name, response.content)
        assert set(response.json()) == {"error"}, name
        assert (Conversation.objects.count(), Prompt.objects.count()) == before, name
    assert helpdesk.get(f"{URL}/not-a-uuid/reply").status_code == 404
    assert helpdesk.get(f"{URL}/00000000-0000-4000-8000-000000000000").status_code == 404


def test_only_support_accounts(api_client, make_user, workbench):
    api_client.force_authenticate(product_user("thumbs-only"))
    assert api_client.post(URL, payload(workbench), format="json").status_code == 403
    api_client.force_authenticate(make_user("an-agent", "agent"))
    assert api_client.post(URL, payload(workbench), format="json").status_code == 403
    assert api_client.get(URL).status_code == 403
    assert Conversation.objects.count() == 0
    assert WorkbenchTurn.objects.count() == 0
