"""`manage.py report` on thumbs and workbench campaigns: the feedback app's figures, reached by
configured path (evalhub never imports feedback)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from feedback.services.thumbs import thumb_record
from tests.factories import OutputFactory, PromptFactory
from tests.test_feedback_helpers import feedback_campaign

pytestmark = pytest.mark.django_db


def _report(campaign, *args: str) -> str:
    out = io.StringIO()
    call_command("report", str(campaign.pk), *args, stdout=out)
    return out.getvalue()


def test_thumbs_campaign_reports_the_thumbs_comparison():
    campaign = feedback_campaign("thumbs", name="thumbs-rep")
    for ft, base in [("up", "down")] * 3 + [("up", "up")]:
        prompt = PromptFactory()
        for model, value in ((campaign.candidate, ft), (campaign.baseline, base)):
            output = OutputFactory(prompt=prompt, model_version=model)
            thumb_record(sent_by=None, value=value, output_id=output.pk, campaign_id=campaign.pk)
    report = json.loads(_report(campaign, "--format", "json"))
    assert report["n_thumbs"] == 8
    assert report["models"]["candidate"]["ups"] == 4 and report["models"]["baseline"]["ups"] == 1
    assert "support_rate" not in report  # thumbs are not a support rate
    assert _report(campaign, "--format", "text").strip() == report["summary"]


def test_workbench_campaign_report_carries_workbench_figures():
    campaign = feedback_campaign("workbench", name="wb-rep")
    report = json.loads(_report(campaign, "--format", "json", "--no-bootstrap"))
    assert "support_rate" in report and "workbench" in report
    assert report["workbench"]["n_turns"] == 0
