"""Results per label: usable pairs (active, not rejected, from people), the latest dataset by split,
votes, agreement (checked against the krippendorff package), the support rate (the report's own
by_label numbers) and the "data missing" flag; the page, the API and the CLI."""

from __future__ import annotations

import io
import json

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from evalhub.models import Label, Prompt
from evalhub.selectors.reports import campaign_report
from evalhub.services.labels import label_create
from tests.test_training_helpers import add_votes, campaign_with_texts
from training.models import DatasetItem, PreferencePair
from training.selectors.data_figures import label_results
from training.services.datasets import dataset_version_freeze
from training.services.pairs import pairs_build

pytestmark = pytest.mark.django_db

LABELS = [
    "billing/refund", "billing/refund", "billing", "shipping", "shipping", "shipping",
]  # fmt: skip
OUTCOMES = [
    ["candidate", "candidate", "baseline"],
    ["candidate", "candidate", "candidate"],
    ["baseline", "baseline", "candidate"],
    ["candidate", "tie", "candidate"],
    ["baseline", "baseline", "baseline"],
    ["candidate", "candidate", "both_bad"],
]
CODES = {"candidate": 0, "baseline": 1, "tie": 2, "both_bad": 3}


@pytest.fixture
def world(db):
    billing = label_create(name="billing")
    label_create(name="billing/refund", parent=billing)
    texts = [(f"Label question {i}?", f"meh {i}", f"good answer {i}") for i in range(6)]
    campaign = campaign_with_texts("per-label", texts, labels=LABELS)
    last = Prompt.objects.get(instruction="Label question 5?")
    last.labels.add(billing)  # shipping and billing
    add_votes(campaign, OUTCOMES)
    pairs_build(sources=["pairwise"])
    shipping_pairs = PreferencePair.objects.filter(labels__name="shipping").order_by("pk")
    PreferencePair.objects.filter(pk=shipping_pairs[0].pk).update(review_status="rejected")
    judge = PreferencePair.objects.create(
        prompt=last, chosen_text="x", rejected_text="y", source="ai_judge",
        source_key="judge:1", content_hash="judge-pair-1",
    )  # fmt: skip
    judge.labels.add(Label.objects.get(name="shipping"))
    dataset = dataset_version_freeze(name="labels-ds")
    return {"campaign": campaign, "dataset": dataset}


def _rows(results):
    return {row["name"]: row for row in results["labels"]}


def _alpha(indices: list[int]) -> float:
    data = np.array([[CODES[OUTCOMES[i][k]] for i in indices] for k in range(3)], dtype=float)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_usable_data_and_dataset_splits_per_label(world):
    rows = _rows(label_results())
    assert list(rows) == ["billing", "billing/refund", "shipping"]  # depth first, by name
    assert [rows[n]["depth"] for n in rows] == [0, 1, 0]
    assert (rows["billing"]["prompts"], rows["billing"]["subtree_prompts"]) == (2, 4)
    assert rows["billing"]["n_children"] == 1
    # shipping: 3 pairs from votes, one rejected in review; the AI-judge pair never counts.
    assert {n: rows[n]["usable_pairs"] for n in rows} == {
        "billing": 2, "billing/refund": 2, "shipping": 2,
    }  # fmt: skip
    for name, row in rows.items():
        in_dataset = DatasetItem.objects.filter(
            dataset=world["dataset"], pair__labels__name=name
        ).count()
        split = row["latest_dataset"]
        assert split["train"] + split["val"] + split["test"] == in_dataset == 2, name
    assert rows["shipping"]["votes"] == 0 and rows["shipping"]["support"] is None
    assert all(row["data_missing"] for row in rows.values())  # 2 usable pairs < 50


def test_votes_agreement_and_support_for_a_campaign(world, django_assert_max_num_queries):
    campaign = world["campaign"]
    with django_assert_max_num_queries(20):
        results = label_results(campaign=campaign, min_pairs=2, min_decisive=6)
    rows = _rows(results)
    refund, billing, shipping = rows["billing/refund"], rows["billing"], rows["shipping"]
    assert (refund["votes"], refund["support"]["wins"], refund["support"]["losses"]) == (6, 5, 1)
    assert (billing["votes"], billing["decisive_votes"]) == (6, 5)
    assert (shipping["votes"], shipping["decisive_votes"], shipping["support"]["wins"]) == (9, 7, 4)
    report_rows = {r["label"]: r for r in campaign_report(campaign, bootstrap=False)["by_label"]}
    for name in rows:
        assert rows[name]["support"]["ci_low"] == pytest.approx(report_rows[name]["ci_low"])
        assert rows[name]["support"]["verdict"] == report_rows[name]["verdict_text"]
    assert refund["agreement_alpha"] == pytest.approx(_alpha([0, 1]), abs=1e-12)
    assert shipping["agreement_alpha"] == pytest.approx(_alpha([3, 4, 5]), abs=1e-12)
    assert billing["agreement_alpha"] == pytest.approx(_alpha([2, 5]), abs=1e-12)
    assert {n: rows[n]["data_missing"] for n in rows} == {
        "billing": True, "billing/refund": False, "shipping": False,
    }  # fmt: skip
    assert results["campaign"]["id"] == campaign.pk
    assert results["dataset"]["name"] == "labels-ds"


def test_page_api_and_cli(world, make_user):
    campaign = world["campaign"]
    pm, rater, expert = make_user("p", "pm"), make_user("r", "rater"), make_user("e", "expert")
    for user in (rater, expert):
        client = Client()
        client.force_login(user)
        assert client.get("/data/results/").status_code == 403
    assert Client().get("/data/results/").status_code == 302
    page = Client()
    page.force_login(pm)
    html = page.get(f"/data/results/?campaign={campaign.pk}&min_pairs=2&min_decisive=6")
    assert html.status_code == 200
    body = html.content.decode()
    assert body.count("data missing") == 1 and "billing/refund" in body
    api = APIClient()
    api.force_authenticate(rater)
    assert api.get("/api/v1/data/labels").status_code == 403
    api.force_authenticate(pm)
    response = api.get(f"/api/v1/data/labels?campaign={campaign.pk}&min_pairs=2&min_decisive=6")
    assert response.status_code == 200
    assert _rows(response.json())["billing"]["data_missing"] is True
    assert api.get("/api/v1/data/labels?min_pairs=-1").status_code == 400
    out = io.StringIO()
    call_command("data_report", "--by", "label", "--campaign", campaign.name, "--format", "json",
                 "--min-pairs", "2", "--min-decisive", "6", stdout=out)  # fmt: skip
    assert _rows(json.loads(out.getvalue()))["shipping"]["decisive_votes"] == 7
    text = io.StringIO()
    call_command("data_report", "--by", "label", "--campaign", str(campaign.pk), stdout=text)
    assert "label=billing/refund" in text.getvalue() and "data_missing=yes" in text.getvalue()
