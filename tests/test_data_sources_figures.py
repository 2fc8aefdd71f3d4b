"""Per-source figures: volume, agreement (checked against the krippendorff package), survival
through dedup and review, and the support rate of pairs (checked against statsmodels' Wilson);
the pair builder stamps each pair with its prompt's source."""

from __future__ import annotations

import io
import json

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient
from statsmodels.stats.proportion import proportion_confint

from evalhub.models import DataSource, Output, Prompt
from evalhub.services.sources import data_source_create
from tests.test_training_helpers import add_votes, campaign_with_texts
from training.models import DatasetItem, PreferencePair
from training.selectors.data_figures import source_figures
from training.services.datasets import dataset_version_freeze
from training.services.pairs import pairs_build

pytestmark = pytest.mark.django_db

TEXTS = [
    (f"Question {i} about my order?", f"Short {i}.", f"A helpful answer {i}.") for i in range(7)
]
# Per comparison (prompt order): three raters each.
OUTCOMES = [
    ["candidate", "candidate", "candidate"],  # crm
    ["candidate", "candidate", "baseline"],  # crm
    ["baseline", "baseline", "candidate"],  # crm
    ["candidate", "tie", "candidate"],  # crm
    ["candidate", "candidate", "both_bad"],  # experts
    ["baseline", "candidate", "baseline"],  # experts
    ["tie", "tie", "tie"],  # no source: no pair
]
CODES = {"candidate": 0, "baseline": 1, "tie": 2, "both_bad": 3}


@pytest.fixture
def world(db):
    crm = data_source_create(name="crm", kind="online", quality_grade="B")
    experts = data_source_create(name="experts", kind="expert", quality_grade="A")
    data_source_create(name="empty", kind="public")
    campaign = campaign_with_texts("fig", TEXTS, labels=["billing"] * 7)
    prompts = list(Prompt.objects.order_by("id"))
    owners = [crm] * 4 + [experts] * 2 + [None]
    for prompt, owner in zip(prompts, owners, strict=True):
        Prompt.objects.filter(pk=prompt.pk).update(data_source=owner)
    Output.objects.filter(prompt__in=prompts[:2]).update(data_source=crm)
    add_votes(campaign, OUTCOMES)
    pairs_build(sources=["pairwise"])
    return {"crm": crm, "experts": experts, "campaign": campaign, "prompts": prompts}


def _alpha(rows: list[list[str]]) -> float:
    data = np.array([[CODES[row[k]] for row in rows] for k in range(3)], dtype=float)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def _by_name(rows):
    return {row["name"]: row for row in rows}


def test_pair_builder_stamps_the_prompts_source(world):
    by_prompt = dict(PreferencePair.objects.values_list("prompt_id", "data_source_id"))
    prompts = world["prompts"]
    assert len(by_prompt) == 6  # every comparison but the all-tie one gives a pair
    assert {by_prompt[p.pk] for p in prompts[:4]} == {world["crm"].pk}
    assert {by_prompt[p.pk] for p in prompts[4:6]} == {world["experts"].pk}
    # A rebuild keeps the stamp (and a prompt re-pointed later does not move built pairs).
    Prompt.objects.filter(pk=prompts[0].pk).update(data_source=world["experts"])
    pairs_build(sources=["pairwise"])
    assert PreferencePair.objects.get(prompt=prompts[0]).data_source == world["crm"]


def test_a_prompt_without_source_takes_the_chosen_answers_source(world):
    """Battle logs imported onto prompts already there without a source: the answers carry it."""
    from evalhub.models import Output

    logs = data_source_create(name="battle logs", kind="online")
    last = world["prompts"][-1]
    Output.objects.filter(prompt=last).update(data_source=logs)
    add_votes(world["campaign"], [[]] * 6 + [["candidate"] * 4], first_rater=3)  # beats 3 ties
    pairs_build(sources=["pairwise"])
    assert PreferencePair.objects.get(prompt=last).data_source == logs
    assert PreferencePair.objects.filter(data_source__isnull=True).count() == 0


def test_volume_agreement_and_support_per_source(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        rows = _by_name(source_figures())
    assert list(rows) == ["crm", "empty", "experts", "(no source)"]
    crm, experts, empty = rows["crm"], rows["experts"], rows["empty"]
    assert (crm["prompts"], crm["outputs"], crm["votes"], crm["pairs_active"]) == (4, 4, 12, 4)
    assert (experts["prompts"], experts["votes"], experts["pairs_active"]) == (2, 6, 2)
    assert (empty["prompts"], empty["votes"], empty["agreement_alpha"]) == (0, 0, None)
    assert rows["(no source)"]["prompts"] == 1 and rows["(no source)"]["pairs_active"] == 0
    assert crm["agreement_alpha"] == pytest.approx(_alpha(OUTCOMES[:4]), abs=1e-12)
    assert experts["agreement_alpha"] == pytest.approx(_alpha(OUTCOMES[4:6]), abs=1e-12)
    # Pairs of crm: candidate chosen on comparisons 0, 1, 3; baseline on 2 -> 3 wins of 4.
    support = crm["pair_support"]
    assert (support["wins"], support["losses"], support["support_rate"]) == (3, 1, 0.75)
    low, high = proportion_confint(3, 4, alpha=0.05, method="wilson")
    assert (support["ci_low"], support["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert support["verdict"].startswith("Between damaged and significant improvement")
    assert experts["pair_support"]["wins"] == 1 and experts["pair_support"]["losses"] == 1
    (alone,) = source_figures(source=world["crm"])  # the detail page reads one source only
    assert alone["agreement_alpha"] == pytest.approx(crm["agreement_alpha"], abs=1e-12)
    assert {**alone, "agreement_alpha": 0} == {**crm, "agreement_alpha": 0}


def test_survival_through_review_and_dedup(world):
    crm_pairs = list(PreferencePair.objects.filter(data_source=world["crm"]).order_by("pk"))
    PreferencePair.objects.filter(pk=crm_pairs[0].pk).update(review_status="rejected")
    PreferencePair.objects.filter(pk=crm_pairs[1].pk).update(review_status="accepted")
    PreferencePair.objects.filter(pk=crm_pairs[2].pk).update(review_status="corrected")
    before = _by_name(source_figures())["crm"]
    assert before["pairs_in_latest_dataset"] == 0 and before["dedup_survival"] == 0
    assert (before["pairs_reviewed"], before["pairs_rejected"]) == (3, 1)
    assert before["review_survival"] == pytest.approx(2 / 3)
    assert before["pair_support"]["wins"] + before["pair_support"]["losses"] == 3  # no rejected
    dataset = dataset_version_freeze(name="ds-1")
    crm = _by_name(source_figures())["crm"]
    kept = DatasetItem.objects.filter(dataset=dataset, pair__data_source=world["crm"]).count()
    assert kept == 3  # the rejected pair never enters a dataset
    assert crm["pairs_in_latest_dataset"] == 3 and crm["dedup_survival"] == pytest.approx(3 / 4)


def test_campaign_filter_and_api_and_cli(world, make_user):
    other = campaign_with_texts("other", [("Unrelated?", "a", "b")])
    add_votes(other, [["candidate", "candidate"]])
    rows = _by_name(source_figures(campaign=world["campaign"]))
    assert rows["crm"]["votes"] == 12
    pm, rater = make_user("p", "pm"), make_user("r", "rater")
    client = APIClient()
    assert client.get("/api/v1/data/sources").status_code == 401
    client.force_authenticate(rater)
    assert client.get("/api/v1/data/sources").status_code == 403
    client.force_authenticate(pm)
    response = client.get(f"/api/v1/data/sources?campaign={world['campaign'].pk}")
    assert response.status_code == 200
    api_rows = _by_name(response.json()["sources"])
    assert api_rows["crm"]["pair_support"]["wins"] == 3
    assert client.get("/api/v1/data/sources?campaign=999999").status_code == 404
    out = io.StringIO()
    call_command("data_report", "--by", "source", "--format", "json", stdout=out)
    assert _by_name(json.loads(out.getvalue())["sources"])["experts"]["votes"] == 6
    text = io.StringIO()
    call_command("data_report", "--by", "source", stdout=text)
    assert "source=crm" in text.getvalue() and "pair_support=75%" in text.getvalue()
    csv_out = io.StringIO()
    call_command("data_report", "--by", "source", "--format", "csv", stdout=csv_out)
    assert csv_out.getvalue().splitlines()[0].startswith("source,kind,grade,prompts")
    assert DataSource.objects.count() == 3
