"""Workbench figures (STATS.md 1.4): share of picks from the candidate with interval and verdict,
none usable beside it, slot bias by chi-square, edit rate per source; on the PM page and as JSON;
and every pick also an evalhub vote that the campaign report counts."""

from __future__ import annotations

import math

import pytest

from evalhub.selectors.reports import campaign_report
from evalhub.stats import support_rate_report, workbench_slot_test
from feedback.models import WorkbenchTurn
from feedback.reports import workbench_report
from feedback.services.workbench import (
    workbench_reply_send,
    workbench_suggestions_ensure,
    workbench_turn_open,
)
from tests import test_feedback_helpers as helpers
from tests.test_feedback_helpers import push_conversations

agent, loopback, workbench = helpers.agent, helpers.loopback, helpers.workbench
pytestmark = pytest.mark.django_db
# (source picked or None for "none usable", edited?) for 12 conversations
PLAN = (
    [("candidate", False)] * 5
    + [("candidate", True)] * 3
    + [("baseline", True)] * 2
    + [
        ("baseline", False),
        (None, False),
    ]
)


@pytest.fixture
def worked(workbench, agent, make_user):
    second = make_user("agent2", "agent")
    for number, (conversation, (source, edited)) in enumerate(
        zip(push_conversations(workbench, len(PLAN)), PLAN, strict=True)
    ):
        who = agent if number % 2 else second
        turn = workbench_suggestions_ensure(
            turn=workbench_turn_open(conversation=conversation, agent=who)
        )
        if source is None:
            workbench_reply_send(
                token=turn.token, agent=who, none_usable=True, text="My own words."
            )
            continue
        suggestion = turn.suggestions.filter(source=source).order_by("slot").first()
        text = suggestion.output.text + (" Thanks!" if edited else "")
        workbench_reply_send(token=turn.token, agent=who, slot=suggestion.slot, text=text)
    return workbench


def test_workbench_report_matches_the_statistics(worked):
    report = workbench_report(worked)
    assert (report["candidate_picks"], report["baseline_picks"]) == (8, 3)
    turns = WorkbenchTurn.objects.filter(status="sent")
    slots = [turns.filter(picked_slot=s).count() for s in (1, 2, 3, 4)]
    expected = support_rate_report(8, 3, 0, 1, slot_picks=slots).to_dict()
    support = report["support"]
    for key in ("support_rate", "ci_low", "ci_high", "p_value", "verdict", "both_bad_rate"):
        assert (
            support[key] == pytest.approx(expected[key], abs=1e-12)
            if isinstance(expected[key], float)
            else support[key] == expected[key]
        ), key
    assert report["none_usable"]["k"] == 1 and report["none_usable"]["n"] == 12
    assert report["slots"]["picks"] == slots
    assert math.isclose(report["slots"]["p_value"], workbench_slot_test(slots).p_value)
    edits = report["edits"]
    assert (edits["candidate"]["picks"], edits["candidate"]["edited"]) == (8, 3)
    assert (edits["baseline"]["picks"], edits["baseline"]["edited"]) == (3, 2)
    assert edits["candidate"]["mean_edit_distance"] == pytest.approx(3 * len(" Thanks!") / 8)
    assert sum(report["layouts"].values()) == 12
    assert report["generation"]["opened"] == 12 and report["generation"]["latency_ms"]["n"] == 12
    assert {row["agent"] for row in report["by_agent"]} == {"agent1", "agent2"}
    assert report["summary"].startswith("Agents picked the candidate's suggestion in 72.7% of 11")


def test_the_campaign_report_counts_workbench_votes(worked):
    report = campaign_report(worked, bootstrap=False)
    assert (report["wins"], report["losses"], report["both_bad"]) == (8, 3, 1)


def test_workbench_dashboard_page(client, make_user, worked, django_assert_max_num_queries):
    client.force_login(make_user("pm-wb", "pm"))
    with django_assert_max_num_queries(20):
        page = client.get(f"/feedback/workbench/{worked.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    for text in ("Workbench support rate", "72.7%", "None usable", "Slot bias", "Edits per source",
                 worked.candidate.name):  # fmt: skip
        assert text in body, text
    listing = client.get("/feedback/")
    assert "12 sent, 0 waiting" in listing.content.decode()
    client.force_login(make_user("agent-x", "agent"))
    assert client.get(f"/feedback/workbench/{worked.pk}/").status_code == 403


def test_an_empty_workbench_report(workbench):
    report = workbench_report(workbench)
    assert report["n_turns"] == 0 and report["support"]["support_rate"] is None
    assert report["support"]["verdict"] == "insufficient_data"
    assert report["slots"]["p_value"] == 1.0
    assert "No reply" in report["summary"]
