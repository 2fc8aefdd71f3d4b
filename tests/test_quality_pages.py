"""The rater quality page, its buttons, the dashboard card, the CLI and the admin actions."""

from __future__ import annotations

import io
import json
import random

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from evalhub.models import AuditEvent, Comparison, RaterExclusion
from evalhub.models.campaigns import Outcome
from evalhub.services.quality import comparison_mark_gold
from evalhub.services.rating import assignment_next, vote_record
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db


class AlwaysGold(random.Random):
    def random(self) -> float:
        return 0.0


def vote_all(campaign, rater, *, right_on_checks: bool) -> None:
    while (a := assignment_next(campaign=campaign, rater=rater, rng=AlwaysGold())) is not None:
        comparison = a.comparison
        if comparison.is_gold and right_on_checks:
            choice = "left" if a.candidate_side == "left" else "right"  # gold says candidate
        elif comparison.is_gold:
            choice = "right" if a.candidate_side == "left" else "left"
        else:
            choice = "left"
        vote_record(rater=rater, token=a.token, choice=choice)


@pytest.fixture
def rated(make_user):
    campaign = open_campaign_with_outputs(n_prompts=5, votes_per_prompt=3, name="qpage")
    campaign.gold_share, campaign.gold_min_answers = 0.3, 2
    campaign.save()
    first = list(Comparison.objects.filter(campaign=campaign).order_by("id")[:2])
    first[0].prompt.instruction = "<script>alert('gold')</script> What is 2+2?"
    first[0].prompt.save()
    for comparison in first:
        comparison_mark_gold(comparison=comparison, outcome=Outcome.CANDIDATE)
    good, bad = make_user("careful", "rater"), make_user("hasty", "rater")
    vote_all(campaign, good, right_on_checks=True)
    vote_all(campaign, bad, right_on_checks=False)
    return campaign, good, bad


def test_page_shows_raters_flags_and_escapes_prompts(
    client, pm, rated, django_assert_max_num_queries
):
    campaign, _good, _bad = rated
    client.force_login(pm)
    with django_assert_max_num_queries(16):
        page = client.get(f"/dashboard/{campaign.pk}/quality/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "careful" in body and "hasty" in body and "flagged" in body
    assert "Exclude all 1 flagged" in body
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    assert page.context["overview"]["raters"][0]["answered"] == 2


def test_exclude_flagged_and_include_through_the_buttons(client, pm, rated):
    campaign, _good, bad = rated
    client.force_login(pm)
    response = client.post(f"/dashboard/{campaign.pk}/quality/exclude-flagged")
    assert response.status_code == 302
    assert list(RaterExclusion.objects.values_list("rater__username", flat=True)) == ["hasty"]
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "Excluded 1 flagged rater: hasty." in body
    assert "Before exclusions" in body and "After exclusions" in body
    before = page.context["before"]
    after = page.context["after"]
    # Real votes: 3 prompts, both raters "left" whatever the side, so the rates differ only
    # by the hasty rater's 3 votes.
    assert before["n_votes"] == 6 and after["n_votes"] == 3
    assert page.context["quality"]["n_excluded_votes"] == 3
    event = AuditEvent.objects.get(action="campaign.rater_exclude")
    assert event.actor == pm and event.via == "page"

    dashboard = client.get(f"/dashboard/{campaign.pk}/").content.decode()
    assert "Rater quality" in dashboard and "3 votes left out" in dashboard

    response = client.post(f"/dashboard/{campaign.pk}/quality/include", {"rater": bad.pk})
    assert response.status_code == 302 and not RaterExclusion.objects.exists()
    response = client.post(f"/dashboard/{campaign.pk}/quality/include", {"rater": bad.pk})
    assert "not excluded" in client.get(response["Location"]).content.decode()
    response = client.post(
        f"/dashboard/{campaign.pk}/quality/exclude", {"rater": bad.pk, "reason": "spot check"}
    )
    assert RaterExclusion.objects.get().reason == "spot check"


def test_buttons_need_csrf_and_manage_permission(pm, make_user, rated):
    campaign, _good, bad = rated
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(pm)
    refused = strict.post(f"/dashboard/{campaign.pk}/quality/exclude", {"rater": bad.pk})
    assert refused.status_code == 403 and not RaterExclusion.objects.exists()
    rater = Client()
    rater.force_login(make_user("nosy", "rater"))
    assert rater.get(f"/dashboard/{campaign.pk}/quality/").status_code == 403
    assert rater.post(f"/dashboard/{campaign.pk}/quality/exclude-flagged").status_code == 403
    assert not RaterExclusion.objects.exists()


def test_cli_marks_gold_adds_checks_and_excludes(tmp_path, make_user):
    campaign = open_campaign_with_outputs(n_prompts=5, votes_per_prompt=2, name="qcli")
    comparisons = list(Comparison.objects.filter(campaign=campaign).order_by("id"))
    gold_file = tmp_path / "gold.csv"
    gold_file.write_text(
        "external_id,outcome\n"
        f"{comparisons[0].prompt.external_id},candidate\n"
        f"{comparisons[1].prompt.external_id},tie\n"
    )
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "rater_quality", campaign.name, "--mark-gold", str(gold_file), "--attention-checks", "2",
        "--seed", "4", "--no-progress", stdout=out, stderr=err,
    )  # fmt: skip
    assert "2 comparisons marked as gold." in err.getvalue()
    assert "2 attention checks added." in err.getvalue()
    assert "Checks: 0 answers on 2 gold items and 2 attention checks" in out.getvalue()
    assert Comparison.objects.filter(campaign=campaign, gold_kind="gold").count() == 2

    campaign.gold_share = 0.5
    campaign.save()
    rater = make_user("cli-rater", "rater")
    vote_all(campaign, rater, right_on_checks=False)
    out = io.StringIO()
    call_command(
        "rater_quality", str(campaign.pk), "--exclude", "cli-rater", "--reason", "test",
        "--format", "json", stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    overview = json.loads(out.getvalue())
    (row,) = overview["raters"]
    assert row["excluded"] and row["exclusion_reason"] == "test" and row["answered"] == 4
    assert (
        overview["report"]["n_excluded_votes"] == overview["report"]["before_exclusion"]["n_votes"]
    )

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "missing-prompt", "outcome": "candidate"}\n')
    with pytest.raises(CommandError, match="name no comparison"):
        call_command("rater_quality", campaign.name, "--mark-gold", str(bad), "--no-progress")
    with pytest.raises(CommandError, match="No user"):
        call_command("rater_quality", campaign.name, "--include", "ghost")


def test_admin_actions_mark_gold_and_include_again(admin_client, make_user, rated):
    campaign, _good, bad = rated
    admin_client.post(
        "/admin/evalhub/campaign/",
        {"action": "exclude_flagged_raters", "_selected_action": [campaign.pk]},
    )
    exclusion = RaterExclusion.objects.get()
    assert exclusion.rater == bad
    page = admin_client.get(f"/admin/evalhub/raterexclusion/{exclusion.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    admin_client.post(
        "/admin/evalhub/raterexclusion/",
        {"action": "include_again", "_selected_action": [exclusion.pk]},
    )
    assert not RaterExclusion.objects.exists()
    assert AuditEvent.objects.filter(action="campaign.rater_include", via="admin").count() == 1

    target = Comparison.objects.filter(campaign=campaign, is_gold=False).first()
    response = admin_client.post(
        "/admin/evalhub/comparison/",
        {"action": "mark_gold_both_bad", "_selected_action": [target.pk]},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.is_gold, target.gold_kind, target.gold_outcome) == (True, "gold", "both_bad")
    # Both raters had picked a side on it: now a wrong answer each, so both are flagged.
    admin_client.post(
        "/admin/evalhub/campaign/",
        {"action": "exclude_flagged_raters", "_selected_action": [campaign.pk]},
    )
    assert RaterExclusion.objects.count() == 2
