"""Feedback picks recorded as evalhub votes: once per source, validated."""

from __future__ import annotations

import pytest

from evalhub.models import Vote
from evalhub.services.errors import InvalidInput
from evalhub.services.votes import vote_record_signal

pytestmark = pytest.mark.django_db


def test_signal_vote_is_recorded_once_per_source(open_campaign, rater):
    prompt = open_campaign.prompts.first()
    kwargs = {
        "campaign": open_campaign,
        "prompt": prompt,
        "kind": "workbench",
        "outcome": "candidate",
        "choice": "3",
        "source_key": "workbench-turn:1",
        "channel": "support-desk",
        "rater": rater,
    }
    first = vote_record_signal(**kwargs)
    again = vote_record_signal(**{**kwargs, "outcome": "baseline"})
    assert first.pk == again.pk and again.outcome == "candidate"
    assert Vote.objects.filter(kind="workbench").count() == 1


@pytest.mark.parametrize(
    ("field", "value"), [("kind", "pairwise"), ("outcome", "win"), ("source_key", "")]
)
def test_signal_vote_rejects_bad_input(open_campaign, field, value):
    kwargs = {
        "campaign": open_campaign,
        "prompt": open_campaign.prompts.first(),
        "kind": "choice",
        "outcome": "baseline",
        "choice": "2",
        "source_key": "choice:9",
        field: value,
    }
    with pytest.raises(InvalidInput):
        vote_record_signal(**kwargs)
    assert Vote.objects.count() == 0
