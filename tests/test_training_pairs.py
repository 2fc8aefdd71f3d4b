"""Preference pairs from every signal: pairwise majorities, workbench picks and edits, n-way
choices, thumbs (pairs and KTO rows); provenance, strength, rebuilds and retirement."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from evalhub.models import ModelVersion, Output, Prompt
from feedback.models import (
    ChoiceOption,
    ChoiceTask,
    Conversation,
    Thumb,
    WorkbenchSuggestion,
    WorkbenchTurn,
)
from tests.test_training_helpers import add_votes, campaign_with_texts, correct_vote, raters
from training.models import CompletionExample, PreferencePair
from training.services.pairs import pairs_build

pytestmark = pytest.mark.django_db

TEXTS = [
    ("Where is my parcel 1?", "It ships soon.", "Sorry for the wait! It ships tomorrow."),
    ("Where is my parcel 2?", "Later.", "I checked: it left our depot today."),
    ("Where is my parcel 3?", "No idea.", "Let me check that for you right away."),
    ("Where is my parcel 4?", "Wait.", "Thanks for waiting, it is on its way."),
    ("Where is my parcel 5?", "Soon.", "It arrives on Monday."),
]


def _active(source: str = "pairwise") -> list[PreferencePair]:
    return list(PreferencePair.objects.filter(source=source, is_active=True).order_by("prompt_id"))


def test_pairwise_majority_strength_and_no_pair_cases():
    campaign = campaign_with_texts(
        "maj", TEXTS, labels=["shipping", "shipping", None, "refund", None]
    )
    add_votes(
        campaign,
        [
            ["candidate", "candidate", "baseline"],  # candidate wins 2 of 3
            ["baseline", "baseline", "tie"],  # baseline wins 2 of 3
            ["tie", "tie", "candidate"],  # ties win: no pair
            ["candidate", "baseline"],  # split decision: no pair
            ["both_bad", "both_bad", "candidate"],  # both bad wins: no pair
        ],
    )
    build = pairs_build(sources=["pairwise"])
    pairs = _active()
    assert len(pairs) == 2
    first, second = pairs
    assert (first.chosen_text, first.rejected_text) == (TEXTS[0][2], TEXTS[0][1])
    assert (first.strength, first.n_signals) == (2, 3)
    assert first.agreement == pytest.approx(2 / 3)
    assert first.chosen_output.model_version == campaign.candidate
    assert first.source_key.startswith("comparison:") and first.campaign == campaign
    assert [label.name for label in first.labels.all()] == ["shipping"]
    assert (second.chosen_text, second.rejected_text) == (TEXTS[1][1], TEXTS[1][2])
    counts = build.counts["pairwise"]
    assert counts["votes"] == 14 and counts["comparisons"] == 5 and counts["pairs"] == 2
    assert counts["no_pair_tie"] == 1 and counts["no_pair_split_decision"] == 1
    assert counts["no_pair_both_bad"] == 1


def test_rebuild_is_idempotent_and_follows_corrections():
    campaign = campaign_with_texts("fix", TEXTS[:2])
    votes = add_votes(campaign, [["candidate", "candidate", "baseline"], ["candidate"]])
    pairs_build(sources=["pairwise"])
    before = {p.content_hash: p.pk for p in _active()}
    again = pairs_build(sources=["pairwise"])
    assert {p.content_hash: p.pk for p in _active()} == before
    assert again.counts["pairwise"]["new"] == 0 and again.counts["pairwise"]["retired"] == 0

    # Two raters correct their votes on the first comparison: the baseline now wins.
    correct_vote(votes[0], "baseline")
    correct_vote(votes[1], "baseline")
    rebuilt = pairs_build(sources=["pairwise"])
    assert rebuilt.counts["pairwise"] == {**rebuilt.counts["pairwise"], "new": 1, "retired": 1}
    flipped = PreferencePair.objects.get(prompt__instruction=TEXTS[0][0], is_active=True)
    assert flipped.chosen_text == TEXTS[0][1] and flipped.strength == 3
    retired = PreferencePair.objects.get(prompt__instruction=TEXTS[0][0], is_active=False)
    assert retired.chosen_text == TEXTS[0][2]


def test_simulated_votes_only_when_asked_and_campaign_scope():
    one = campaign_with_texts("sim", TEXTS[:2])
    other = campaign_with_texts("other", TEXTS[2:4])
    add_votes(one, [["candidate"], ["candidate"]], simulated=True)
    add_votes(other, [["baseline"], ["candidate"]])
    pairs_build()
    assert {p.campaign_id for p in _active()} == {other.pk}
    pairs_build(sources=["pairwise"], campaigns=[one], include_simulated=True)
    assert {p.campaign_id for p in _active()} == {one.pk, other.pk}  # other's kept: out of scope


def test_identical_answers_give_no_pair():
    campaign = campaign_with_texts("same", [("Hello?", "Hi there.", "hi   THERE.")])
    add_votes(campaign, [["candidate", "candidate"]])
    build = pairs_build(sources=["pairwise"])
    assert _active() == [] and build.counts["pairwise"]["same_text"] == 1


def _workbench_turn(campaign, agent, *, picked_slot, final_text, layout="bcbc"):
    prompt = Prompt.objects.create(instruction=f"Customer asks {final_text[:20]}")
    conversation = Conversation.objects.create(
        campaign=campaign, messages=[{"role": "customer", "text": prompt.instruction}],
        content_hash=prompt.content_hash, prompt=prompt, status="sent", reply_text=final_text,
        sent_at=timezone.now(),
    )  # fmt: skip
    now = timezone.now()
    source_of = {"b": "baseline", "c": "candidate"}
    picked_source = source_of[layout[picked_slot - 1]] if picked_slot else ""
    turn = WorkbenchTurn.objects.create(
        conversation=conversation, agent=agent, status="sent", layout=layout, opened_at=now,
        shown_at=now, sent_at=now, picked_slot=picked_slot, picked_source=picked_source,
        none_usable=picked_slot is None, final_text=final_text,
    )  # fmt: skip
    for slot, code in enumerate(layout, start=1):
        model = campaign.baseline if code == "b" else campaign.candidate
        output = Output.objects.create(
            prompt=prompt,
            model_version=model,
            text=f"suggestion {slot} ({code})",
            sample_index=slot,
        )
        WorkbenchSuggestion.objects.create(
            turn=turn, slot=slot, source=source_of[code], output=output
        )
    return turn


def test_workbench_picks_edits_and_own_replies():
    campaign = campaign_with_texts("wb", TEXTS[:1])
    agent = raters(1)[0]
    _workbench_turn(campaign, agent, picked_slot=2, final_text="suggestion 2 (c)")  # as is
    _workbench_turn(campaign, agent, picked_slot=1, final_text="suggestion 1 (b), with thanks!")
    _workbench_turn(campaign, agent, picked_slot=None, final_text="My own careful reply.")
    build = pairs_build(sources=["workbench_pick", "workbench_edit"])

    picks = _active("workbench_pick")
    assert len(picks) == 4  # each pick against the two suggestions of the other model
    assert {(p.chosen_text, p.rejected_text) for p in picks} >= {
        ("suggestion 2 (c)", "suggestion 1 (b)"),
        ("suggestion 2 (c)", "suggestion 3 (b)"),
        ("suggestion 1 (b)", "suggestion 2 (c)"),
    }
    edits = _active("workbench_edit")
    edited = [p for p in edits if p.chosen_text.endswith("with thanks!")]
    assert [(p.rejected_text, p.chosen_output_id) for p in edited] == [("suggestion 1 (b)", None)]
    own = [p for p in edits if p.chosen_text == "My own careful reply."]
    assert len(own) == 4  # the agent's own reply beats all four suggestions
    sft = CompletionExample.objects.filter(kind="sft", is_active=True)
    assert sorted(e.completion for e in sft) == [
        "My own careful reply.",
        "suggestion 1 (b), with thanks!",
    ]
    assert build.counts["workbench_edit"]["edited"] == 1
    assert build.counts["workbench_edit"]["own_reply"] == 1


def test_choices_pick_against_each_other_option():
    campaign = campaign_with_texts("ch", TEXTS[:1])
    prompt = campaign.prompts.get()
    other = ModelVersion.objects.create(name="third-model")
    outputs = [
        Output.objects.get(prompt=prompt, model_version=campaign.baseline),
        Output.objects.get(prompt=prompt, model_version=campaign.candidate),
        Output.objects.create(prompt=prompt, model_version=other, text="A third answer."),
    ]
    task = ChoiceTask.objects.create(campaign=campaign, prompt=prompt, shown_at=timezone.now())
    options = [
        ChoiceOption.objects.create(task=task, position=i, output=o, source=s)
        for i, (o, s) in enumerate(zip(outputs, ["baseline", "candidate", "other"], strict=True), 1)
    ]
    ChoiceTask.objects.filter(pk=task.pk).update(status="picked", picked=options[2])
    pairs_build(sources=["choice"])
    pairs = _active("choice")
    assert {p.rejected_text for p in pairs} == {outputs[0].text, outputs[1].text}
    assert {p.chosen_text for p in pairs} == {"A third answer."}


def test_thumbs_pair_up_against_down_and_unpaired_become_kto():
    campaign = campaign_with_texts("th", TEXTS[:2])
    first, second = campaign.prompts.order_by("id")
    up = Output.objects.get(prompt=first, model_version=campaign.candidate)
    down = Output.objects.get(prompt=first, model_version=campaign.baseline)
    lonely = Output.objects.get(prompt=second, model_version=campaign.candidate)
    for output, values in (
        (up, ["up", "up", "down"]),
        (down, ["down"]),
        (lonely, ["down", "down"]),
    ):
        for k, value in enumerate(values):
            Thumb.objects.create(output=output, value=value, product_user_id=f"u{k}")
    build = pairs_build(sources=["thumbs"])
    (pair,) = _active("thumbs")
    assert (pair.chosen_text, pair.rejected_text) == (up.text, down.text)
    assert (pair.strength, pair.n_signals) == (3, 4)  # 2 ups + 1 down agree, of 4 thumbs
    (kto,) = CompletionExample.objects.filter(kind="kto")
    assert (kto.completion, kto.label, kto.strength) == (lonely.text, False, 2)
    assert build.counts["thumbs"]["kto_examples"] == 1


def test_build_pairs_command_prints_counts(capsys):
    campaign = campaign_with_texts("cli", TEXTS[:2])
    add_votes(campaign, [["candidate", "candidate"], ["baseline"]])
    call_command("build_pairs", "--source", "pairwise", "--campaign", campaign.name)
    out = capsys.readouterr().out
    assert "pairwise" in out and "2 pairs" in out
    assert PreferencePair.objects.filter(is_active=True).count() == 2


def test_gold_items_and_excluded_raters_make_no_pairs():
    """Votes on a gold item are a rater test and an excluded rater's votes are out of the
    reports: the pair builder leaves both out, and brings the rater back when included again."""
    from evalhub.services.quality import comparison_mark_gold, rater_exclude, rater_include

    campaign = campaign_with_texts("quality", TEXTS[:3])
    add_votes(
        campaign,
        [
            ["candidate", "candidate", "candidate"],  # becomes a gold item
            ["candidate", "baseline", "baseline"],  # rater 0's candidate vote decides nothing
            ["candidate", "candidate", "baseline"],  # without rater 0: a 1-1 split
        ],
    )
    gold, second, third = campaign.comparisons.order_by("prompt_id")
    pairs_build(sources=["pairwise"])
    assert {p.prompt_id for p in _active()} == {gold.prompt_id, second.prompt_id, third.prompt_id}

    comparison_mark_gold(comparison=gold, outcome="candidate")
    rater_exclude(campaign=campaign, rater=raters(1)[0])
    build = pairs_build(sources=["pairwise"])
    pairs = _active()
    assert [p.prompt_id for p in pairs] == [second.prompt_id]
    assert (pairs[0].strength, pairs[0].n_signals) == (2, 2)
    assert build.counts["pairwise"]["votes"] == 4  # 9 cast - 3 on the gold item - 2 of rater 0

    rater_include(campaign=campaign, rater=raters(1)[0])
    pairs_build(sources=["pairwise"])
    assert {p.prompt_id for p in _active()} == {second.prompt_id, third.prompt_id}
