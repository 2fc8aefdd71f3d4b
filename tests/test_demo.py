"""The demo loader behind ./scripts/demo: everything a newcomer needs, idempotent, and simulated
votes that are labelled as such."""

from __future__ import annotations

import importlib.util
import io
import json
from collections import Counter

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client

from evalhub.models import Campaign, Comparison, Job, ModelVersion, Output, Prompt, Vote
from evalhub.services.campaigns import campaign_open
from tests.factories import open_campaign_with_outputs

# The smallest build of the demo models that still answers in words (tests/training/tiny.py).
TINY_BUILD = ["base_steps=60", "adapter_steps=20", "batch_size=16", "base_lr=0.005"]


def _demo(tmp_path, *extra: str) -> str:
    out = io.StringIO()
    argv = ["--models-out", str(tmp_path / "models"), "--prompts", "24", "--conversations", "5"]
    for pair in TINY_BUILD:
        argv += ["--build-set", pair]
    call_command("demo", *argv, *extra, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return (
        Prompt.objects.count(),
        ModelVersion.objects.count(),
        Output.objects.count(),
        Campaign.objects.count(),
        Comparison.objects.count(),
        Job.objects.count(),
        Vote.objects.count(),
        apps.get_model("labeling", "TaskItem").objects.count(),
    )


@pytest.mark.ml
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the ml extra")
@pytest.mark.django_db(transaction=True)
def test_demo_builds_generates_opens_both_campaigns_and_simulates_votes(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "var"
    text = _demo(tmp_path)
    for step in ("users for every role", "tiny demo models", "generating baseline and candidate",
                 "workbench campaign", "Demo ready"):  # fmt: skip
        assert step in text, step
    assert "rater1-demo-pass" in text and "agent-demo-pass" in text
    assert "expert-demo-pass" in text and "/labeling/" in text
    assert "/workbench/" in text and "/dashboard/" in text and "/api/docs/" in text

    # The tiny models were built and registered: a base and its LoRA adapter, local backend.
    base = ModelVersion.objects.get(name="tiny-cs-base")
    warm = ModelVersion.objects.get(name="tiny-cs-warm")
    assert (base.backend, warm.backend, warm.parent) == ("local", "local", base)

    # The pairwise campaign is open with outputs that were really generated, both sides.
    pairwise = Campaign.objects.get(kind="pairwise")
    assert pairwise.status == "open" and pairwise.rater_title
    assert pairwise.comparisons.count() == pairwise.prompts.count() == 24
    generated = Output.objects.filter(prompt__campaigns=pairwise, origin="generated")
    assert Counter(generated.values_list("model_version__name", flat=True)) == {
        "tiny-cs-base": 24,
        "tiny-cs-warm": 24,
    }
    assert all(o.text.strip() for o in generated)
    assert Job.objects.get(kind="generate", campaign=pairwise).state == "succeeded"
    assert len(set(pairwise.prompts.values_list("labels__name", flat=True))) == 6  # every label

    # The workbench campaign is open with conversations queued for the agent.
    workbench = Campaign.objects.get(kind="workbench")
    assert workbench.status == "open"
    assert (workbench.baseline, workbench.candidate) == (base, warm)
    assert workbench.conversations.filter(status="queued").count() == 5
    assert not Vote.objects.exists()

    # The bundled prompts point to their data source; a labeling task is open for the raters.
    bundled = Prompt.objects.filter(external_id__startswith="cs-")
    assert bundled.count() == 312 and not bundled.filter(data_source__isnull=True).exists()
    assert bundled.first().data_source.kind == "expert"
    task = apps.get_model("labeling", "LabelingTask").objects.get()
    assert (task.status, task.audience, task.k, task.items.count()) == ("open", "user", 2, 30)
    assert task.labels.count() == 6

    # Idempotent: a second run builds, generates and stores nothing new.
    counts = _counts()
    again = _demo(tmp_path)
    assert "already built and registered" in again and "(0 missing)" in again
    assert _counts() == counts

    # --simulate-votes: simulated raters fill all but one slot of every comparison.
    _demo(tmp_path, "--simulate-votes")
    votes = Vote.objects.filter(campaign=pairwise)
    assert votes.count() == 24 * 2 and all(v.is_simulated for v in votes)
    assert set(votes.values_list("rater__username", flat=True)) == {
        "simulated-rater-1",
        "simulated-rater-2",
    }
    assert set(votes.values_list("channel", flat=True)) == {"simulated"}
    assert Comparison.objects.filter(campaign=pairwise, vote_count=2).count() == 24
    report_out = io.StringIO()
    call_command("report", str(pairwise.pk), "--format", "json", stdout=report_out)
    report = json.loads(report_out.getvalue())
    assert report["n_votes"] == 48 and report["verdict"] and report["n_simulated"] == 48
    outcomes = Counter(votes.values_list("outcome", flat=True))
    assert (report["wins"], report["losses"]) == (outcomes["candidate"], outcomes["baseline"])
    # ... and once more adds nothing (every simulated rater has seen every comparison).
    _demo(tmp_path, "--simulate-votes")
    assert Vote.objects.count() == 48

    # A human rater still gets the last slot of each comparison.
    rater = Client()
    assert rater.login(username="rater1", password="rater1-demo-pass")
    assert rater.get(f"/api/v1/campaigns/{pairwise.pk}/next").status_code == 200

    # Simulated votes are labelled in the dashboard list and on the campaign's page.
    pm = Client()
    assert pm.login(username="pm", password="pm-demo-pass")
    listing = pm.get("/dashboard/").content.decode()
    assert "48 simulated" in listing
    page = pm.get(f"/dashboard/{pairwise.pk}/").content.decode()
    assert "Includes 48 simulated votes" in page and "not human judgements" in page


@pytest.mark.django_db
def test_simulated_votes_go_through_the_rating_service_and_are_labelled(make_user):
    campaign = open_campaign_with_outputs(n_prompts=60, votes_per_prompt=4, name="sim")
    out = io.StringIO()
    call_command("demo", "--simulate-votes-for", campaign.name, "--seed", "3", stdout=out)
    assert "SIMULATED votes" in out.getvalue()
    votes = Vote.objects.filter(campaign=campaign)
    assert votes.count() == 60 * 3 and all(v.is_simulated for v in votes)
    # Each vote is an assignment served and answered through the rating service.
    assert all(v.assignment_id and v.assignment.status == "voted" for v in votes)
    assert all(v.time_taken_ms and 6_000 <= v.time_taken_ms <= 40_000 for v in votes)
    outcomes = Counter(votes.values_list("outcome", flat=True))
    decisive = outcomes["candidate"] + outcomes["baseline"]
    assert 0.6 < outcomes["candidate"] / decisive < 0.9  # about the 75% asked for
    assert 0 < outcomes["tie"] + outcomes["both_bad"] < 0.3 * len(votes)
    # The choice as shown agrees with the outcome and the side the candidate was on.
    for vote in votes:
        if vote.choice in ("left", "right"):
            candidate = vote.choice == vote.candidate_side
            assert vote.outcome == ("candidate" if candidate else "baseline")
    # Once every simulated rater has seen every comparison, running it again adds nothing.
    call_command("demo", "--simulate-votes-for", str(campaign.pk), stdout=io.StringIO())
    assert votes.count() == 180
    # Simulated raters have no password: nobody can sign in as one.
    assert authenticate(username="simulated-rater-1", password="") is None


@pytest.mark.django_db
def test_simulating_needs_an_open_pairwise_campaign():
    campaign = open_campaign_with_outputs(n_prompts=2, votes_per_prompt=2, name="closed")
    campaign.status = "draft"
    campaign.save(update_fields=["status"])
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an open pairwise campaign"):
        call_command("demo", "--simulate-votes-for", str(campaign.pk), stdout=io.StringIO())
    campaign_open(campaign=campaign)
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("demo", "--simulate-votes-for", str(campaign.pk), "--simulated-support", "1.5")
