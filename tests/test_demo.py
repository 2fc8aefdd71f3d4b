"""The demo loader behind ./scripts/demo: everything a newcomer needs, idempotent."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from evalhub.models import Campaign, Comparison, Output, Prompt

pytestmark = pytest.mark.django_db


def test_demo_loads_an_open_campaign_and_is_idempotent():
    out = io.StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    assert "rater1-demo-pass" in text and "Demo ready" in text
    campaign = Campaign.objects.get()
    assert campaign.status == "open" and campaign.rater_title
    assert Comparison.objects.filter(campaign=campaign).count() == 60
    counts = (Prompt.objects.count(), Output.objects.count(), Comparison.objects.count())
    assert counts[0] >= 300
    call_command("demo", stdout=io.StringIO())
    assert (Prompt.objects.count(), Output.objects.count(), Comparison.objects.count()) == counts
    assert authenticate(username="rater1", password="rater1-demo-pass") is not None
    assert authenticate(username="pm", password="pm-demo-pass").has_perm("evalhub.view_reports")
