"""The AI judge: both orders against the fake backend, robust parsing, position bias, agreement
with human votes (rate, Cohen's kappa), the approval gate (audited), ai_judge pairs that datasets
take only when asked, quality flags, and the HTTP path through the loopback server + CLI."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assist.judging import agreement, combine_orders, parse_score, parse_verdict
from assist.models import JudgeRun, JudgeVerdict
from assist.services.judge import (
    judge_pairs_publish,
    judge_run_approve,
    judge_run_create,
    judge_run_measure,
)
from assist.tasks import run_judge_job
from evalhub.models import AuditEvent, Comparison, Vote
from evalhub.selectors.reports.campaign import campaign_report
from evalhub.services.errors import Conflict, InvalidInput
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
from training.models import PreferencePair
from training.services.datasets import DatasetFilters, dataset_version_freeze

JUDGE = "judge-strong"


# -- pure: parsing and statistics ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("A", "A"), ("B", "B"), (" b. ", "invalid"), ("tie", "tie"), ("Tie.", "tie"),
        ("**Verdict: B**", "B"), ("[[A]]", "A"), ("Answer B is better.", "B"),
        ("The winner is A", "A"), ("A or B, hard to say", "invalid"), ("", "invalid"),
        ("thanks order refund", "invalid"), ("Both are equal", "tie"),
    ],
)  # fmt: skip
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize(
    ("text", "score"),
    [("4", 4), ("Score: 2", 2), ("3/5", 3), ("rating = 5.", 5), ("1 or 2", None), ("six", None),
     ("7", None)],
)  # fmt: skip
def test_parse_score(text, score):
    assert parse_score(text) == score


def test_orders_combine_and_disagreement_is_inconsistent():
    assert combine_orders("candidate", "candidate") == "candidate"
    assert combine_orders("candidate", "baseline") == "inconsistent"
    assert combine_orders("tie", "baseline") == "inconsistent"
    assert combine_orders("candidate", "invalid") == "invalid"
    assert combine_orders("baseline", None) == "baseline"


def test_agreement_kappa_matches_the_textbook_formula():
    pairs = [("candidate", "candidate")] * 20 + [("baseline", "baseline")] * 12
    pairs += [("candidate", "baseline")] * 3 + [("inconsistent", "candidate")] * 4
    pairs += [("tie", "tie")] * 2 + [("baseline", "tie")]
    result = agreement(pairs)
    table = np.array(result.table, dtype=float)
    assert table.sum() == result.n == 42
    observed = np.trace(table) / 42
    expected = (table.sum(1) @ table.sum(0)) / 42**2
    assert result.agree == 34 and result.rate == pytest.approx(observed)
    assert result.kappa == pytest.approx((observed - expected) / (1 - expected), abs=1e-12)
    assert result.kappa_low < result.kappa < result.kappa_high
    assert result.rate_low < result.rate < result.rate_high
    assert table[2, 0] == 4  # inconsistent verdicts count as ties


@pytest.fixture
def judge_model(db):
    return ModelVersionFactory(
        name=JUDGE, backend="openai", endpoint="http://127.0.0.1:9/v1", served_name=JUDGE
    )


def run_with_fake(run: JudgeRun, responder=None) -> tuple[JudgeRun, ScriptedFakeBackend]:
    fake = ScriptedFakeBackend([JUDGE], responder or judge_responder())
    seen = []
    result = run_judge_job(run.job_id, backend=fake, on_progress=lambda *a: seen.append(a))
    assert result is not None and seen[-1][0] == seen[-1][1]
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.state == "succeeded", run.job.error
    return run, fake


@pytest.mark.django_db
def test_judge_pairs_both_orders_agreement_gate_and_ai_pairs(judge_model, make_user):
    campaign = judged_campaign(40)
    raters = [make_user("h1"), make_user("h2")]
    # People agree with "longer is better" except on the first 4 comparisons, where they pick
    # the other side: agreement 36/40.
    first = set(
        Comparison.objects.filter(campaign=campaign).order_by("id").values_list("pk", flat=True)[:4]
    )
    flip = {"candidate": "baseline", "baseline": "candidate", "tie": "candidate"}
    votes = vote_as(campaign, raters, lambda c: flip[longer(c)] if c.pk in first else longer(c))
    assert votes == 40
    pm = make_user("pm-j", "pm")

    run = judge_run_create(campaign=campaign, judge=judge_model, created_by=pm, min_agreement_n=30)
    assert run.job.kind == "judge" and run.status == "queued"
    run, fake = run_with_fake(run)

    # Both orders were asked, with the two answers swapped between them; the judge is blind.
    assert len(fake.requests_seen) == 80
    sent = " ".join(m["content"] for r in fake.requests_seen for m in r.messages)
    assert campaign.candidate.name not in sent and campaign.baseline.name not in sent
    verdict = run.verdicts.select_related("comparison__candidate_output").first()
    asked = {r.request_id: r.messages[-1]["content"] for r in fake.requests_seen}
    ab, ba = asked[f"c{verdict.comparison_id}:ab"], asked[f"c{verdict.comparison_id}:ba"]
    cand_text = verdict.comparison.candidate_output.text
    slot_text = ab.split("[ANSWER A]\n")[1].split("\n[/ANSWER A]")[0]
    assert (slot_text == cand_text) == (verdict.candidate_slot == "A")
    assert ba.split("[ANSWER B]\n")[1].split("\n[/ANSWER B]")[0] == slot_text

    counts = run.counts
    assert counts["judged"] == 40 and counts["candidate"] == 24 and counts["baseline"] == 8
    assert counts["tie"] == 8 and counts["inconsistent"] == 0 and counts["invalid"] == 0
    assert counts["judge_rate"]["support_rate"] == pytest.approx(24 / 32)
    assert counts["position"]["first_slot_share"] == pytest.approx(0.5)

    agreement_ = run.agreement
    assert agreement_["n"] == 40 and agreement_["agree"] == 36
    assert 0 < agreement_["kappa"] < 1 and agreement_["kappa_low"] < agreement_["kappa"]
    # Flipped: 3 of the first 4 were candidate wins (now losses), 1 a baseline win (now a win).
    assert agreement_["human_rate_on_shared"]["wins"] == 24 - 3 + 1

    # Verdicts are not votes: the human report is untouched by the judge.
    assert Vote.objects.filter(campaign=campaign).count() == 40
    assert campaign_report(campaign)["n_votes"] == 40

    # Unapproved labels cannot be used.
    with pytest.raises(Conflict, match="not approved"):
        judge_pairs_publish(run=run)
    approved = judge_run_approve(run=run, user=pm, note="kappa looks fine")
    assert approved.approved_by == pm and approved.approved_at is not None
    event = AuditEvent.objects.get(action="judge_run.approve", object_id=str(run.pk))
    assert event.actor == pm and event.after["agreement"]["n"] == 40
    with pytest.raises(Conflict, match="already approved"):
        judge_run_approve(run=approved, user=pm)

    result = judge_pairs_publish(run=approved)
    assert result == {"new": 32, "changed": 0, "retired": 0, "pairs": 32}
    assert judge_pairs_publish(run=approved)["new"] == 0  # idempotent
    pairs = PreferencePair.objects.filter(source="ai_judge")
    assert pairs.count() == 32 and set(pairs.values_list("strength", flat=True)) == {2}
    assert all(merit(p.chosen_text) > merit(p.rejected_text) for p in pairs)
    assert {p.data_source.name for p in pairs} == {f"AI judge ({JUDGE})"}
    assert pairs.first().data_source.kind == "synthetic"

    # Datasets leave AI-judge pairs out unless the source is named.
    with pytest.raises(InvalidInput, match="No active pairs"):
        dataset_version_freeze(name="humans-only", filters=DatasetFilters())
    chosen = dataset_version_freeze(name="with-ai", filters=DatasetFilters(sources=("ai_judge",)))
    assert chosen.counts["pairs"]["total"] == 32


@pytest.mark.django_db
def test_gate_refuses_until_enough_human_voted_comparisons(judge_model, make_user):
    campaign = judged_campaign(10, name="few")
    vote_as(campaign, [make_user("h3")], longer)
    pm = make_user("pm-g", "pm")
    run, _ = run_with_fake(judge_run_create(campaign=campaign, judge=judge_model))
    assert run.min_agreement_n == 30 and run.agreement["n"] == 10
    with pytest.raises(Conflict) as refused:
        judge_run_approve(run=run, user=pm)
    assert refused.value.code == "agreement_not_measured"
    assert refused.value.details == {"measured_on": 10, "required": 30}
    assert not AuditEvent.objects.filter(action="judge_run.approve").exists()
    # Re-measuring picks up new human votes (none here) and is audited.
    judge_run_measure(run=run)
    assert AuditEvent.objects.filter(action="judge_run.measure", object_id=str(run.pk)).exists()


@pytest.mark.django_db
def test_simulated_votes_do_not_count_as_people(judge_model, make_user):
    campaign = judged_campaign(5, name="sim")
    vote_as(campaign, [make_user("h4")], longer)
    Vote.objects.filter(campaign=campaign).update(is_simulated=True)
    run, _ = run_with_fake(judge_run_create(campaign=campaign, judge=judge_model))
    assert run.agreement["n"] == 0 and run.agreement["human_voted_comparisons"] == 0


@pytest.mark.django_db
def test_position_biased_judge_is_inconsistent_and_reported(judge_model):
    campaign = judged_campaign(20, name="bias")
    # Within 3 words the judge says "A" whatever it sees: those pairs disagree across orders.
    run, _ = run_with_fake(
        judge_run_create(campaign=campaign, judge=judge_model),
        judge_responder(bias_margin=3, wrap="**Verdict: {}**"),
    )
    counts = run.counts
    # extra 3 and 0 (2 of 5 kinds) fall within the margin: 8 of 20 inconsistent.
    assert counts["inconsistent"] == 8 and counts["invalid"] == 0
    assert counts["position"]["first_slot_share"] > 0.6
    assert counts["position"]["decisive"] == 40


@pytest.mark.django_db
def test_one_order_limit_and_unreadable_answers(judge_model):
    campaign = judged_campaign(10, name="one")
    run = judge_run_create(campaign=campaign, judge=judge_model, both_orders=False, limit=6)
    run, fake = run_with_fake(run, lambda prompt: "I cannot decide between A and B")
    assert len(fake.requests_seen) == 6
    assert run.counts["judged"] == 6 and run.counts["invalid"] == 6
    assert set(run.verdicts.values_list("verdict_ba", flat=True)) == {""}


@pytest.mark.django_db
def test_rerun_resumes_and_failures_are_recorded(judge_model):
    campaign = judged_campaign(6, name="res")
    run = judge_run_create(campaign=campaign, judge=judge_model)
    fake = ScriptedFakeBackend([JUDGE], judge_responder(), failures={})
    first_id = Comparison.objects.filter(campaign=campaign).order_by("id").first().pk
    fake.failures[f"c{first_id}:ab"] = "upstream 500"
    run_judge_job(run.job_id, backend=fake)
    bad = run.verdicts.get(comparison_id=first_id)
    assert bad.outcome == "invalid" and "upstream 500" in bad.error
    assert run.verdicts.count() == 6


@pytest.mark.django_db
def test_quality_run_flags_low_scores(judge_model):
    campaign = judged_campaign(5, name="qual")
    run = judge_run_create(
        campaign=campaign, judge=judge_model, kind="quality", quality_threshold=4
    )
    run, _ = run_with_fake(run)
    # 10 outputs (5 baselines of 10 words: score 3; candidates 16/14/13/5/10 words: 5/4/4/2/3).
    assert run.counts["judged"] == 10
    assert run.counts["scores"] == {"1": 0, "2": 1, "3": 6, "4": 2, "5": 1}
    assert run.counts["flagged"] == 7
    with pytest.raises(Conflict):
        judge_run_approve(run=run, user=None)


@pytest.mark.django_db
def test_create_validates(judge_model):
    campaign = judged_campaign(2, name="val")
    imported = ModelVersionFactory(name="imported-judge")
    with pytest.raises(InvalidInput, match="imported"):
        judge_run_create(campaign=campaign, judge=imported)
    with pytest.raises(InvalidInput, match="answer_b"):
        judge_run_create(campaign=campaign, judge=judge_model, template="{prompt} {answer_a}")


# -- the HTTP path: a judge behind the loopback OpenAI-compatible server, through the CLI ----


@pytest.mark.django_db
def test_cli_judges_over_http_with_progress_and_approval(make_user):
    campaign = judged_campaign(30, name="http")
    vote_as(campaign, [make_user("h5")], longer)
    make_user("boss", "pm")
    with ScriptedLoopbackServer([JUDGE], judge_responder(wrap="[[{}]]")) as server:
        ModelVersionFactory(
            name=JUDGE, backend="openai", endpoint=server.base_url, served_name=JUDGE
        )
        out, err = StringIO(), StringIO()
        call_command(
            "judge", campaign.name, "--judge", JUDGE, "--approve-as", "boss", "--publish-pairs",
            "--json", stdout=out, stderr=err,
        )  # fmt: skip
        assert server.chat_requests == 60
        assert all(body["temperature"] == 0 for body in server.bodies)
    report = json.loads(out.getvalue())
    assert report["is_ai"] is True and report["approved"] is True
    assert report["agreement"]["n"] == 30 and report["agreement"]["rate"] == 1.0
    assert report["published"]["new"] == 18 + 6  # decisive: 3/5 candidate + 1/5 baseline
    assert "judge judge-strong" in err.getvalue() and "30/30" in err.getvalue()
    run = JudgeRun.objects.get(pk=report["judge_run_id"])
    assert run.verdicts.filter(latency_ms_ab__gt=0, latency_ms_ba__gt=0).count() == 30


@pytest.mark.django_db
def test_cli_refuses_approval_without_enough_agreement(make_user):
    campaign = judged_campaign(3, name="cli-gate")
    make_user("boss2", "pm")
    with ScriptedLoopbackServer([JUDGE], judge_responder()) as server:
        ModelVersionFactory(
            name=JUDGE, backend="openai", endpoint=server.base_url, served_name=JUDGE
        )
        with pytest.raises(CommandError, match="at least 30"):
            call_command("judge", str(campaign.pk), "--judge", JUDGE, "--approve-as", "boss2",
                         stdout=StringIO(), stderr=StringIO())  # fmt: skip
    assert JudgeVerdict.objects.count() == 3


def test_perfect_agreement_has_a_finite_kappa_interval():
    result = agreement([("candidate", "candidate")] * 6 + [("baseline", "baseline")] * 3)
    assert result.kappa == pytest.approx(1.0)
    assert result.kappa_low is not None and result.kappa_low == result.kappa_low  # not NaN
    json.dumps(result.as_dict(), allow_nan=False)


@pytest.mark.django_db
def test_cancel_keeps_what_was_judged_and_a_retry_resumes(judge_model, settings):
    from evalhub.services.jobs import job_cancel, job_retry

    settings.EVALHUB_GENERATION_CONCURRENCY = 8  # steps of 16 comparisons

    campaign = judged_campaign(40, name="cancel")
    run = judge_run_create(campaign=campaign, judge=judge_model)
    fake = ScriptedFakeBackend([JUDGE], judge_responder())

    def cancel_after_first_batch(done, total, message):
        if done >= 16:
            job_cancel(job=run.job)

    run_judge_job(run.job_id, backend=fake, on_progress=cancel_after_first_batch)
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.state == "cancelled" and run.status == "cancelled"
    assert run.verdicts.count() == 16 and run.counts["judged"] == 16

    job_retry(job=run.job)
    run_judge_job(run.job_id, backend=fake)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.verdicts.count() == 40
    assert len(fake.requests_seen) == 80  # nothing asked twice


def test_model_text_cannot_inject_into_the_judge_template():
    from assist.judging import PAIR_FIELDS, PAIR_TEMPLATE, render

    text = render(PAIR_TEMPLATE, PAIR_FIELDS,
                  {"prompt": "q {x}", "answer_a": "see {answer_b} and {prompt}", "answer_b": "B!"})  # fmt: skip
    assert "see {answer_b} and {prompt}" in text and text.count("B!") == 1 and "q {x}" in text


@pytest.mark.django_db
def test_cli_text_report_and_queue(make_user):
    campaign = judged_campaign(5, name="cli-text")
    vote_as(campaign, [make_user("h6")], longer)
    with ScriptedLoopbackServer([JUDGE], judge_responder()) as server:
        ModelVersionFactory(
            name=JUDGE, backend="openai", endpoint=server.base_url, served_name=JUDGE
        )
        out = StringIO()
        call_command("judge", campaign.name, "--judge", JUDGE, stdout=out, stderr=StringIO())
        text = out.getvalue()
        assert "[AI labels]: 5 judged" in text and "judge support rate 75.0%" in text
        assert "agreement with the human majority 100.0% (n=5)" in text
        assert "labels: not approved (needs agreement on >= 30" in text
        quality = StringIO()
        call_command("judge", campaign.name, "--judge", JUDGE, "--kind", "quality",
                     stdout=quality, stderr=StringIO())  # fmt: skip
        assert "flagged below 3" in quality.getvalue()
        queued = StringIO()
        call_command("judge", campaign.name, "--judge", JUDGE, "--queue", stdout=queued)
        assert "queued judge run" in queued.getvalue()
    assert JudgeRun.objects.filter(status="queued").count() == 1
    with pytest.raises(CommandError, match="No model version"):
        call_command("judge", campaign.name, "--judge", "nobody", stdout=StringIO())
