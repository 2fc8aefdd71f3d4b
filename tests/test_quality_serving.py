"""Gold items and attention checks in serving: mixed in at about gold_share, each at most once
per rater, never the only thing a rater gets, balanced positions, blind payloads."""

from __future__ import annotations

import random

import pytest

from evalhub.models import Assignment, Comparison, Output, Vote
from evalhub.models.campaigns import Outcome
from evalhub.selectors.rating import assignment_blind_payload, campaigns_for_rater
from evalhub.services.campaigns import campaign_open
from evalhub.services.errors import Conflict
from evalhub.services.quality import (
    ATTENTION_SAMPLE_INDEX,
    attention_checks_create,
    comparison_mark_gold,
    comparison_unmark_gold,
)
from evalhub.services.rating import assignment_next, vote_record
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db


def serve_all(campaign, rater, rng) -> list[Comparison]:
    served = []
    while (a := assignment_next(campaign=campaign, rater=rater, rng=rng)) is not None:
        served.append(a.comparison)
        vote_record(rater=rater, token=a.token, choice="left")
    return served


def test_checks_are_mixed_in_at_about_the_gold_share(make_user):
    campaign = open_campaign_with_outputs(n_prompts=60, votes_per_prompt=1, name="share")
    campaign.gold_share = 0.25
    campaign.save()
    gold = Comparison.objects.filter(campaign=campaign).order_by("id")[:30]
    for comparison in gold:
        comparison_mark_gold(comparison=comparison, outcome=Outcome.CANDIDATE)
    rater = make_user("r-share", "rater")
    rng = random.Random(7)
    served = serve_all(campaign, rater, rng)
    real = [c for c in served if not c.is_gold]
    checks = [c for c in served if c.is_gold]
    assert len(real) == 30  # all real work, once
    # With p = 0.25 per reservation, checks / everything served is about 0.25; this seed's draw
    # is fixed, the bounds are the 99.9% binomial range for 40 served items.
    assert 0.1 <= len(checks) / len(served) <= 0.45
    assert len({c.pk for c in checks}) == len(checks)  # each check at most once


def test_each_rater_sees_each_check_once_and_checks_have_no_vote_cap(make_user):
    campaign = open_campaign_with_outputs(n_prompts=10, votes_per_prompt=1, name="cap")
    campaign.gold_share = 0.5
    campaign.save()
    check = Comparison.objects.filter(campaign=campaign).order_by("id").first()
    comparison_mark_gold(comparison=check, outcome=Outcome.BASELINE)

    class Always(random.Random):
        def random(self) -> float:
            return 0.0

    for i in range(4):  # more raters than votes_per_prompt: everyone still gets the check
        rater = make_user(f"r-cap-{i}", "rater")
        served = []
        for _ in range(2):
            a = assignment_next(campaign=campaign, rater=rater, rng=Always())
            served.append(a.comparison_id)
            vote_record(rater=rater, token=a.token, choice="left")
        assert served[0] == check.pk and served[1] != check.pk  # asked for a check: served once
    check.refresh_from_db()
    assert check.vote_count == 4 > campaign.votes_per_prompt
    assert Comparison.objects.filter(campaign=campaign, is_gold=False, vote_count=1).count() == 4


def test_checks_are_never_all_that_is_left(make_user):
    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=1, name="alone")
    campaign.gold_share = 0.5
    campaign.save()
    first = Comparison.objects.filter(campaign=campaign).order_by("id").first()
    comparison_mark_gold(comparison=first, outcome=Outcome.TIE)
    rater = make_user("r-alone", "rater")

    class Never(random.Random):
        def random(self) -> float:
            return 0.99

    served = serve_all(campaign, rater, Never())
    assert len(served) == 2 and all(not c.is_gold for c in served)
    # Only the check is left for this rater: nothing is served, and the list agrees.
    assert assignment_next(campaign=campaign, rater=rater, rng=random.Random(0)) is None
    (item,) = campaigns_for_rater(rater=rater)
    assert item.has_work_for_me is False


def test_attention_checks_pair_a_real_answer_with_another_prompts_answer(make_user):
    campaign = open_campaign_with_outputs(n_prompts=6, votes_per_prompt=2, name="attn")
    created = attention_checks_create(campaign=campaign, count=4, seed=3)
    assert len(created) == 4 and len({c.prompt_id for c in created}) == 4
    assert sorted(c.gold_outcome for c in created) == ["baseline"] * 2 + ["candidate"] * 2
    for check in created:
        check.refresh_from_db()
        assert check.is_gold and check.gold_kind == "attention"
        real_side = (
            check.candidate_output if check.gold_outcome == "candidate" else check.baseline_output
        )
        decoy = (
            check.baseline_output if check.gold_outcome == "candidate" else check.candidate_output
        )
        assert real_side.prompt_id == decoy.prompt_id == check.prompt_id
        assert decoy.sample_index >= ATTENTION_SAMPLE_INDEX
        copied = Output.objects.get(pk=decoy.params["copied_from_output"])
        assert copied.prompt_id != check.prompt_id and copied.text == decoy.text
        assert decoy.model_version_id == copied.model_version_id
    # Reopening the campaign never compares a decoy: real answers keep the lowest sample index.
    before = Comparison.objects.filter(campaign=campaign).count()
    campaign_open(campaign=campaign)
    assert Comparison.objects.filter(campaign=campaign).count() == before
    with pytest.raises(Conflict):
        comparison_unmark_gold(comparison=created[0])
    with pytest.raises(Conflict):  # only 2 prompts left without a check
        attention_checks_create(campaign=campaign, count=3)


def test_positions_of_checks_alternate_and_payloads_look_ordinary(make_user):
    campaign = open_campaign_with_outputs(n_prompts=4, votes_per_prompt=1, name="pos")
    campaign.gold_share = 0.5
    campaign.save()
    check = Comparison.objects.filter(campaign=campaign).order_by("id").first()
    comparison_mark_gold(comparison=check, outcome=Outcome.CANDIDATE)

    class Always(random.Random):
        def random(self) -> float:
            return 0.0

    sides, payload_keys = [], set()
    for i in range(6):
        rater = make_user(f"r-pos-{i}", "rater")
        assignment = assignment_next(campaign=campaign, rater=rater, rng=Always())
        assert assignment.comparison_id == check.pk
        sides.append(assignment.candidate_side)
        payload_keys.add(tuple(sorted(assignment_blind_payload(assignment=assignment))))
    assert sides.count("left") == 3  # alternating from a random start: exactly balanced
    ordinary = Assignment.objects.filter(comparison__is_gold=False).first()
    if ordinary is None:
        rater = make_user("r-pos-real", "rater")
        ordinary = assignment_next(campaign=campaign, rater=rater, rng=random.Random(1))
        while ordinary.comparison.is_gold:
            vote_record(rater=rater, token=ordinary.token, choice="tie")
            ordinary = assignment_next(campaign=campaign, rater=rater, rng=random.Random(1))
    assert payload_keys == {tuple(sorted(assignment_blind_payload(assignment=ordinary)))}


def test_rater_list_counts_each_vote_once_checks_included(make_user):
    campaign = open_campaign_with_outputs(n_prompts=4, votes_per_prompt=2, name="count")
    campaign.gold_share = 0.5
    campaign.save()
    comparison_mark_gold(
        comparison=Comparison.objects.filter(campaign=campaign).first(), outcome=Outcome.TIE
    )
    rater = make_user("r-count", "rater")

    class Always(random.Random):
        def random(self) -> float:
            return 0.0

    remaining = [campaigns_for_rater(rater=rater)[0].remaining]
    while (a := assignment_next(campaign=campaign, rater=rater, rng=Always())) is not None:
        vote_record(rater=rater, token=a.token, choice="left")
        item = campaigns_for_rater(rater=rater)[0]
        remaining.append(item.remaining)
    # Every vote, on a check or not, lowers the count shown to the rater by one.
    assert remaining == [6, 5, 4, 3, 2]
    assert item.my_votes == 4


@pytest.mark.django_db(transaction=True)
def test_raters_racing_with_checks_keep_every_cap_and_lose_nothing(make_user):
    """Eight raters vote through a campaign at once, half their reservations asking for a check:
    real items end at exactly votes_per_prompt, every rater answers each check at most once,
    counters match the votes, and no reservation fails (SQLite and PostgreSQL)."""
    from tests.test_rating_concurrency import _together

    campaign = open_campaign_with_outputs(n_prompts=8, votes_per_prompt=3, name="race")
    campaign.gold_share = 0.5
    campaign.save()
    for comparison in Comparison.objects.filter(campaign=campaign).order_by("id")[:2]:
        comparison_mark_gold(comparison=comparison, outcome=Outcome.CANDIDATE)
    raters = [make_user(f"race-{i}", "rater") for i in range(8)]

    def work(i: int) -> int:
        rng, votes = random.Random(i), 0
        while (a := assignment_next(campaign=campaign, rater=raters[i], rng=rng)) is not None:
            vote_record(rater=raters[i], token=a.token, choice="left")
            votes += 1
        return votes

    results = _together(8, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    real = Comparison.objects.filter(campaign=campaign, is_gold=False)
    assert sorted(real.values_list("vote_count", flat=True)) == [3] * 6
    assert sum(results) == Vote.objects.filter(campaign=campaign).count()
    for comparison in Comparison.objects.filter(campaign=campaign):
        assert comparison.vote_count == comparison.votes.count() == comparison.load
    per_rater_check = Vote.objects.filter(campaign=campaign, comparison__is_gold=True).values_list(
        "rater_id", "comparison_id"
    )
    assert len(per_rater_check) == len(set(per_rater_check))
