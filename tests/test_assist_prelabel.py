"""AI pre-labels for labeling tasks: only from a judge with an approved run, stored through
labeling's annotation_create_ai as is_ai annotations (preference in both orders, score, labels),
gold items left alone, idempotent; API and CLI (over the loopback server)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from assist.models import JudgeRun
from assist.services.judge import judge_run_approve, judge_run_create
from assist.services.prelabel import prelabel_run_create
from assist.tasks import run_judge_job
from evalhub.models import Comparison, Label
from evalhub.services.errors import Conflict, InvalidInput
from labeling.models import Annotation
from labeling.services.tasks import labeling_task_create
from tests.factories import ModelVersionFactory
from tests.test_assist_helpers import (
    ScriptedFakeBackend,
    ScriptedLoopbackServer,
    judge_responder,
    judged_campaign,
    longer,
    merit,
    vote_as,
)

pytestmark = pytest.mark.django_db
JUDGE = "judge-pre"


def labels_too(judge):
    """The scripted judge, also answering label questions (short prompts: "billing")."""

    def answer(message: str) -> str | None:
        if "[ITEM]" in message:
            return (
                "Shipping."
                if "word word word word word word word word word word word word" in message
                else "billing"
            )
        return judge(message)

    return answer


@pytest.fixture
def approved(make_user):
    """A judge whose pairs run agreed with people on 30 comparisons, approved by a PM."""
    judge = ModelVersionFactory(name=JUDGE, backend="openai", endpoint="http://127.0.0.1:9/v1",
                                served_name=JUDGE)  # fmt: skip
    campaign = judged_campaign(30, name="pre")
    vote_as(campaign, [make_user("pre-h")], longer)
    run = judge_run_create(campaign=campaign, judge=judge)
    run_judge_job(run.job_id, backend=ScriptedFakeBackend([JUDGE], judge_responder()))
    run.refresh_from_db()
    pm = make_user("pre-pm", "pm")
    return judge_run_approve(run=run, user=pm), campaign, pm


def comparisons(campaign, n: int) -> list[Comparison]:
    return list(
        Comparison.objects.filter(campaign=campaign)
        .select_related("baseline_output", "candidate_output")
        .order_by("id")[:n]
    )


def run_prelabel(run: JudgeRun, responder) -> JudgeRun:
    run_judge_job(run.job_id, backend=ScriptedFakeBackend([JUDGE], responder))
    run.refresh_from_db()
    assert run.status == "succeeded", run.job.error
    return run


def test_preference_prelabels_in_both_orders(approved):
    approved_run, campaign, pm = approved
    pairs = comparisons(campaign, 6)
    items = [{"output": c.candidate_output_id, "output_b": c.baseline_output_id} for c in pairs[:5]]
    gold = pairs[5]
    items.append({"output": gold.candidate_output_id, "output_b": gold.baseline_output_id,
                  "gold_answer": {"preference": "a"}})  # fmt: skip
    task = labeling_task_create(name="which is better", item_kind="output",
                                question_kind="preference", items=items)  # fmt: skip
    run = prelabel_run_create(task=task, approved_run=approved_run, created_by=pm)
    assert run.judge_id == approved_run.judge_id and run.authorised_by == approved_run
    run = run_prelabel(run, judge_responder())

    annotations = Annotation.objects.filter(item__task=task).select_related(
        "item__output", "item__output_b"
    )
    assert annotations.count() == 5 and all(
        a.is_ai and a.ai_model_id == run.judge_id for a in annotations
    )
    assert not annotations.filter(item__is_gold=True).exists()  # gold items are never pre-labelled
    for annotation in annotations:
        diff = merit(annotation.item.output.text) - merit(annotation.item.output_b.text)
        assert annotation.value == {"preference": "tie" if diff == 0 else "a" if diff > 0 else "b"}
        assert annotation.ai_confidence == 1.0 and annotation.meta["judge_run"] == run.pk
    assert {k: v for k, v in run.counts.items() if k != "seconds"} == {
        "judged": 5,
        "annotated": 5,
        "inconsistent": 0,
        "unsupported": 0,
        "invalid": 0,
    }
    assert Annotation.objects.filter(item__task=task, is_ai=False).count() == 0

    # Again with a position-biased judge: order-dependent answers become ties at 0.5, and
    # the annotations already stored for this judge are not duplicated (AI labels never change).
    again = run_prelabel(prelabel_run_create(task=task, approved_run=approved_run),
                         judge_responder(bias_margin=3))  # fmt: skip
    assert again.counts["inconsistent"] == 2  # length gaps 3 and 0 sit within the margin
    assert Annotation.objects.filter(item__task=task).count() == 5


def test_score_and_label_prelabels(approved):
    approved_run, campaign, _ = approved
    pairs = comparisons(campaign, 4)
    score_task = labeling_task_create(
        name="quality", item_kind="output", question_kind="score",
        items=[{"output": c.candidate_output_id} for c in pairs],
    )  # fmt: skip
    run = run_prelabel(
        prelabel_run_create(task=score_task, approved_run=approved_run), judge_responder()
    )
    scores = {
        a.item.output_id: a.value["score"] for a in Annotation.objects.filter(item__task=score_task)
    }
    assert scores == {
        c.candidate_output_id: min(5, 1 + merit(c.candidate_output.text) // 4) for c in pairs
    }

    billing, shipping = Label.objects.create(name="billing"), Label.objects.create(name="shipping")
    label_task = labeling_task_create(
        name="topic", item_kind="output", question_kind="labels", labels=[billing, shipping],
        items=[{"output": c.candidate_output_id} for c in pairs],
    )  # fmt: skip
    run = run_prelabel(prelabel_run_create(task=label_task, approved_run=approved_run),
                       labels_too(judge_responder()))  # fmt: skip
    values = {a.item.output_id: a.value for a in Annotation.objects.filter(item__task=label_task)}
    expected = {
        c.candidate_output_id: {
            "labels": [shipping.pk if merit(c.candidate_output.text) >= 12 else billing.pk]
        }
        for c in pairs
    }
    assert values == expected and run.counts["annotated"] == 4


def test_only_an_approved_judge_may_prelabel(approved, make_user):
    approved_run, campaign, _ = approved
    unapproved = judge_run_create(campaign=campaign, judge=approved_run.judge)
    task = labeling_task_create(name="t", item_kind="output", question_kind="score",
                                items=[{"output": comparisons(campaign, 1)[0].candidate_output_id}])  # fmt: skip
    with pytest.raises(Conflict) as refused:
        prelabel_run_create(task=task, approved_run=unapproved)
    assert refused.value.code == "not_approved"
    text_task = labeling_task_create(name="free text", item_kind="output", question_kind="text")
    with pytest.raises(InvalidInput, match="cannot answer text"):
        prelabel_run_create(task=text_task, approved_run=approved_run)


def test_api_and_cli(approved, api_client, make_user):
    approved_run, campaign, pm = approved
    pairs = comparisons(campaign, 3)
    task = labeling_task_create(name="api pre", item_kind="output", question_kind="preference",
                                items=[{"output": c.candidate_output_id, "output_b": c.baseline_output_id}
                                       for c in pairs])  # fmt: skip
    api_client.force_authenticate(pm)
    unapproved = judge_run_create(campaign=campaign, judge=approved_run.judge)
    refused = api_client.post("/api/v1/assist/prelabel-runs",
                              {"task": task.pk, "approved_run": unapproved.pk}, format="json")  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_approved"
    accepted = api_client.post("/api/v1/assist/prelabel-runs",
                               {"task": task.pk, "approved_run": approved_run.pk}, format="json")  # fmt: skip
    assert accepted.status_code == 202 and accepted.json()["kind"] == "prelabel"
    api_client.force_authenticate(make_user("pre-expert", "expert"))
    assert api_client.post("/api/v1/assist/prelabel-runs", {}, format="json").status_code == 403

    with ScriptedLoopbackServer([JUDGE], judge_responder()) as server:
        judge = approved_run.judge
        judge.endpoint = server.base_url
        judge.save()
        out, err = StringIO(), StringIO()
        call_command(
            "prelabel", str(task.pk), "--run", str(approved_run.pk), stdout=out, stderr=err
        )
        assert server.chat_requests == 6
    assert "3 AI annotations on 3 items" in out.getvalue() and "pre-label" in err.getvalue()
    assert Annotation.objects.filter(item__task=task, is_ai=True).count() == 3


def test_prelabel_runs_on_the_pages(approved, client):
    approved_run, campaign, pm = approved
    pairs = comparisons(campaign, 2)
    task = labeling_task_create(name="page pre <b>task</b>", item_kind="output",
                                question_kind="score",
                                items=[{"output": c.candidate_output_id} for c in pairs])  # fmt: skip
    client.force_login(pm)
    response = client.post("/assist/prelabel/new", {"task": task.pk, "approved_run": approved_run.pk,
                                                    "both_orders": "on"})  # fmt: skip
    run = JudgeRun.objects.get(kind="prelabel")
    assert response["Location"] == f"/assist/judge-runs/{run.pk}/"
    run_prelabel(run, judge_responder())
    overview = client.get("/assist/").content.decode()
    assert "labeling task: page pre &lt;b&gt;task&lt;/b&gt;" in overview
    page = client.get(f"/assist/judge-runs/{run.pk}/").content.decode()
    assert 'data-figure="annotated">2' in page and f"judge run #{approved_run.pk}" in page
