"""import_battles: Chatbot Arena style records become imported pairwise votes of a campaign."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evalhub.models import Campaign, Comparison, ModelVersion, Output, Prompt, Vote
from tests.factories import ModelVersionFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
PAIR = ["--baseline", "base-7b", "--candidate", "tuned-7b"]


def run(path: Path, *args: str, campaign: str = "arena") -> str:
    out = io.StringIO()
    call_command(
        "import_battles", str(path), "--campaign", campaign, *PAIR, *args,
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    return out.getvalue()


def report_of(path: Path, *args: str, campaign: str = "arena") -> dict:
    return json.loads(run(path, "--json", *args, campaign=campaign))


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (ModelVersion, Prompt, Output, Campaign, Comparison, Vote)
    )


def test_creates_models_prompts_outputs_campaign_comparisons_and_votes():
    report = report_of(DATA / "battles.json")
    assert (report["recorded"], report["skipped_other_pairs"], report["duplicates"]) == (4, 1, 0)
    assert report["models_created"] == ["base-7b", "tuned-7b"]
    assert report["campaign_created"] is True
    assert (report["prompts_created"], report["outputs_created"]) == (4, 8)
    assert report["comparisons_created"] == 4

    for name in ("base-7b", "tuned-7b"):
        assert ModelVersion.objects.get(name=name).backend == ModelVersion.Backend.IMPORTED
    assert not ModelVersion.objects.filter(name="gpt-x").exists()
    campaign = Campaign.objects.get(name="arena")
    assert (campaign.kind, campaign.status) == ("pairwise", "open")
    assert (campaign.baseline.name, campaign.candidate.name) == ("base-7b", "tuned-7b")
    assert campaign.prompts.count() == 4

    dns = Prompt.objects.get(external_id="arena-1")
    assert dns.instruction == "Explain DNS briefly."
    assert Prompt.objects.get(external_id="arena-2").instruction == "Name a prime number."
    assert Prompt.objects.get(external_id="arena-3").instruction == "(imported question arena-3)"
    assert Prompt.objects.get(external_id="arena-4").instruction == "Say hi."
    comparison = Comparison.objects.get(prompt=dns)
    assert comparison.candidate_output.text == "DNS maps names to IP addresses."  # model_a
    assert comparison.baseline_output.text == "It is a phone book."
    assert comparison.vote_count == 1
    placeholders = Output.objects.filter(prompt__external_id="arena-3")
    assert {o.text for o in placeholders} == {"(not imported)"}
    assert {o.origin for o in Output.objects.all()} == {"imported"}

    votes = {v.prompt.external_id: v for v in Vote.objects.select_related("prompt")}
    expected = {  # (candidate_side, choice, outcome): model_a is shown on the left
        "arena-1": ("left", "left", "candidate"),  # candidate is model_a and won
        "arena-2": ("right", "right", "candidate"),  # candidate is model_b and won
        "arena-3": ("right", "both_bad", "both_bad"),
        "arena-4": ("left", "tie", "tie"),
    }
    assert {k: (v.candidate_side, v.choice, v.outcome) for k, v in votes.items()} == expected
    for vote in votes.values():
        assert (vote.kind, vote.channel, vote.rater, vote.is_simulated) == (
            "pairwise", "import", None, False,
        )  # fmt: skip
        assert vote.campaign == campaign
        assert vote.comparison.prompt_id == vote.prompt_id
        assert vote.source_key.startswith("battle:")
    assert votes["arena-1"].judge == "arena_user_1"


@pytest.mark.parametrize(
    ("candidate_is", "winner", "expected"),
    [
        ("model_a", "model_a", ("left", "left", "candidate")),
        ("model_a", "model_b", ("left", "right", "baseline")),
        ("model_b", "model_a", ("right", "left", "baseline")),
        ("model_b", "model_b", ("right", "right", "candidate")),
        ("model_a", "tie", ("left", "tie", "tie")),
        ("model_b", "tie (bothbad)", ("right", "both_bad", "both_bad")),
        ("model_a", "Tie (BothBad)", ("left", "both_bad", "both_bad")),
    ],
)
def test_outcome_for_both_orientations(tmp_path, candidate_is, winner, expected):
    pair = ("tuned-7b", "base-7b") if candidate_is == "model_a" else ("base-7b", "tuned-7b")
    path = tmp_path / "one.jsonl"
    path.write_text(
        json.dumps({"question_id": "q", "model_a": pair[0], "model_b": pair[1], "winner": winner})
    )
    run(path)
    vote = Vote.objects.get()
    assert (vote.candidate_side, vote.choice, vote.outcome) == expected


def test_reimporting_the_same_file_records_nothing_new():
    run(DATA / "battles.json")
    before = counts()
    report = report_of(DATA / "battles.json")
    assert (report["recorded"], report["duplicates"], report["skipped_other_pairs"]) == (0, 4, 1)
    assert report["campaign_created"] is False
    assert report["models_created"] == []
    assert counts() == before
    assert list(Comparison.objects.values_list("vote_count", flat=True)) == [1, 1, 1, 1]


def test_jsonl_reuses_outputs_and_comparison_for_the_same_question_and_system_prompt():
    report = report_of(DATA / "battles.jsonl")
    assert (report["recorded"], report["skipped_other_pairs"]) == (2, 1)
    prompt = Prompt.objects.get(external_id="mt-81")
    assert (prompt.system, prompt.instruction) == ("Be concise.", "Plan a trip to Hawaii.")
    assert Output.objects.count() == 2  # both battles judged the same two answers
    comparison = Comparison.objects.get()
    assert comparison.vote_count == 2
    assert comparison.load == 2
    assert comparison.candidate_output.text == "Fly to Maui."
    outcomes = list(Vote.objects.order_by("id").values_list("judge", "candidate_side", "outcome"))
    assert outcomes == [("expert_0", "right", "baseline"), ("expert_1", "left", "candidate")]


def test_existing_prompts_outputs_and_models_are_reused(tmp_path):
    base = ModelVersionFactory(name="base-7b")
    tuned = ModelVersionFactory(name="tuned-7b")
    prompt = PromptFactory(external_id="known", instruction="A stored question")
    OutputFactory(prompt=prompt, model_version=base, text="stored base answer")
    OutputFactory(prompt=prompt, model_version=tuned, text="stored tuned answer")
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps(
            [
                {
                    "question_id": "known",
                    "model_a": "base-7b",
                    "model_b": "tuned-7b",
                    "winner": "model_b",
                }
            ]
        )
    )
    report = report_of(path)
    assert (report["prompts_created"], report["outputs_created"], report["models_created"]) == (
        0, 0, [],
    )  # fmt: skip
    comparison = Comparison.objects.get()
    assert comparison.baseline_output.text == "stored base answer"
    assert Vote.objects.get().outcome == "candidate"


def test_campaign_with_other_models_is_refused_and_nothing_is_stored():
    run(DATA / "battles.json")
    before = counts()
    with pytest.raises(CommandError, match="compares candidate 'tuned-7b' with baseline 'base-7b'"):
        call_command(
            "import_battles", str(DATA / "battles.json"), "--campaign", "arena",
            "--baseline", "gpt-x", "--candidate", "tuned-7b", stdout=io.StringIO(),
        )  # fmt: skip
    assert counts() == before


def test_bad_rows_name_line_and_field_and_store_nothing(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [
        {"question_id": "1", "model_a": "base-7b", "model_b": "tuned-7b", "winner": "model_a"},
        {"question_id": "2", "model_a": "base-7b", "model_b": "tuned-7b", "winner": "draw"},
        {"model_a": "base-7b", "model_b": "tuned-7b", "winner": "tie"},
        {"question_id": "4", "model_a": "tuned-7b", "winner": "tie"},
        {"question_id": "5", "model_a": "base-7b", "model_b": "tuned-7b", "winner": "tie",
         "conversation_a": [{"role": "user"}]},
        {"question_id": "6", "model_a": "other", "model_b": "tuned-7b", "winner": "nonsense"},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(row) for row in rows))
    with pytest.raises(CommandError) as caught:
        run(path)
    message = str(caught.value)
    assert "line 2, field winner: must be one of model_a, model_b, tie, tie (bothbad)" in message
    assert "line 3, field question_id" in message
    assert "line 4, field model_b: is required and empty" in message
    assert "line 5, field conversation_a" in message
    assert "line 6" not in message  # another pair: skipped, not checked
    assert counts() == (0, 0, 0, 0, 0, 0)

    report = report_of(path, "--skip-bad")
    assert (report["recorded"], report["errors"], report["skipped_other_pairs"]) == (1, 4, 1)
    assert [(r["line"], r["field"]) for r in report["bad_rows"]] == [
        (2, "winner"), (3, "question_id"), (4, "model_b"), (5, "conversation_a"),
    ]  # fmt: skip
    assert Vote.objects.get().prompt.external_id == "1"


def test_summary_names_recorded_skipped_duplicates_and_errors():
    output = run(DATA / "battles.json")
    assert output.splitlines()[0].startswith(
        "battles: 5 rows read, 4 created, 0 duplicates, 0 bad rows skipped; recorded: 4, "
        "skipped other pairs: 1"
    )


def test_a_file_without_battles_of_the_pair_creates_nothing():
    out = io.StringIO()
    call_command(
        "import_battles", str(DATA / "battles.json"), "--campaign", "typo", "--json",
        "--baseline", "base-7B", "--candidate", "tuned-7B", stdout=out,
    )  # fmt: skip
    report = json.loads(out.getvalue())
    assert (report["recorded"], report["skipped_other_pairs"]) == (0, 5)
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_same_name_for_baseline_and_candidate_is_refused():
    with pytest.raises(CommandError, match="must be different"):
        call_command(
            "import_battles", str(DATA / "battles.json"), "--campaign", "x",
            "--baseline", "a", "--candidate", "a", stdout=io.StringIO(),
        )  # fmt: skip


def test_identical_records_are_distinct_votes_and_reimport_adds_none(tmp_path):
    record = {"model_a": "tuned-7b", "model_b": "base-7b", "winner": "model_a", "question_id": "q1"}
    path = tmp_path / "same.jsonl"
    path.write_text("\n".join(json.dumps(record) for _ in range(3)))
    assert report_of(path)["recorded"] == 3
    assert Vote.objects.filter(outcome="candidate").count() == 3
    assert report_of(path)["recorded"] == 0
    assert Vote.objects.count() == 3


def test_same_battles_as_csv_and_jsonl_are_recorded_once(tmp_path):
    rows = [
        {
            "model_a": "tuned-7b",
            "model_b": "base-7b",
            "winner": "model_b",
            "question_id": "7",
            "tstamp": 1700000000,
        },
        {
            "model_a": "base-7b",
            "model_b": "tuned-7b",
            "winner": "tie",
            "question_id": "8",
            "tstamp": 1700000001.5,
        },
    ]
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in rows))
    csv = tmp_path / "b.csv"
    csv.write_text("model_a,model_b,winner,question_id,tstamp\n" + "\n".join(
        f"{r['model_a']},{r['model_b']},{r['winner']},{r['question_id']},{r['tstamp']}" for r in rows
    ))  # fmt: skip
    assert report_of(jsonl)["recorded"] == 2
    assert report_of(csv)["recorded"] == 0
    assert Vote.objects.count() == 2
