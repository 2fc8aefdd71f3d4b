"""python manage.py report CAMPAIGN --format json|csv|text [--by ...]."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from tests.test_reports_data import add_votes, label_prompts, make_campaign

pytestmark = pytest.mark.django_db

C, B, T = "candidate", "baseline", "tie"


@pytest.fixture
def campaign():
    campaign = make_campaign(n_prompts=4)
    add_votes(campaign, [[C, C, B], [C, T, C], [B, C, C], [C, C, C]])
    label_prompts(campaign, [["billing", "=HYPERLINK(1)"], ["billing"], ["tech"], []])
    return campaign


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_json_by_name_and_by_id_agree(campaign):
    by_name = json.loads(run(campaign.name, "--no-bootstrap"))
    by_id = json.loads(run(str(campaign.pk), "--no-bootstrap"))
    for report in (by_name, by_id):
        assert (report["wins"], report["losses"], report["ties"], report["n_votes"]) == (
            9,
            2,
            1,
            12,
        )
        for key in ("support_rate", "ci_low", "ci_high", "ci_method", "confidence", "p_value"):
            assert key in report
        assert report["bootstrap_ci_low"] is None
    assert by_name["ci_low"] == by_id["ci_low"]
    assert {row["label"] for row in by_name["by_label"]} == {"billing", "tech", "=HYPERLINK(1)"}


def test_json_bootstrap_is_seeded(campaign):
    first = json.loads(run(campaign.name, "--seed", "3"))
    again = json.loads(run(campaign.name, "--seed", "3"))
    assert first["bootstrap_resamples"] == 2000
    assert first["bootstrap_ci_low"] == again["bootstrap_ci_low"]


def test_csv_has_the_overall_row_first_then_one_row_per_label(campaign):
    frame = pd.read_csv(io.StringIO(run(campaign.name, "--format", "csv", "--by", "label")))
    assert frame["slice_type"].tolist() == ["overall", "label", "label", "label"]
    assert frame.loc[0, "wins"] == 9 and frame.loc[0, "losses"] == 2
    billing = frame[frame["slice"] == "billing"].iloc[0]
    assert (billing["wins"], billing["losses"], billing["ties"]) == (4, 1, 1)
    # a label that a spreadsheet would run as a formula is written as text
    assert "'=HYPERLINK(1)" in frame["slice"].tolist()
    for column in ("support_rate", "ci_low", "ci_high", "p_value", "band", "verdict"):
        assert column in frame.columns


def test_csv_by_rater_and_by_day(campaign):
    raters = pd.read_csv(io.StringIO(run(campaign.name, "--format", "csv", "--by", "rater")))
    assert raters["slice_type"].tolist() == ["overall", "rater", "rater", "rater"]
    assert "agreement_with_majority" in raters.columns
    days = pd.read_csv(io.StringIO(run(campaign.name, "--format", "csv", "--by", "day")))
    assert days["slice_type"].tolist() == ["overall", "day"]
    assert days.loc[1, "cum_n_votes"] == 12


def test_text_states_the_verdict(campaign):
    text = run(campaign.name, "--format", "text", "--by", "label")
    assert text.startswith(
        "camp-finetuned-model-XYZ vs camp-base-model-XYZ: the fine-tune is preferred in 81.8% "
        "of decisive votes (95% CI "
    )
    assert "12 votes from 3 raters over 4 prompts; 8% ties, 0% both bad)" in text
    assert "Verdict: between " in text and "more votes" in text
    assert "The exact test against 50% gives p = 0.065." in text
    assert "By label:" in text and "  billing: 80.0%" in text


def test_unknown_campaign_is_a_clear_error(campaign):
    with pytest.raises(CommandError, match="No campaign with id or name 'nope'"):
        run("nope")
