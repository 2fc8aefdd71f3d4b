"""The rater's n-way choice pages (/choose/): one task at a time, each prompt at most once per
rater, the least-picked first; picks count as choice votes; every page and message is blind."""

from __future__ import annotations

import re

import pytest

from evalhub.models import Vote
from evalhub.services.campaigns import campaign_close
from feedback.models import ChoiceTask
from tests.factories import OutputFactory, PromptFactory
from tests.test_feedback_helpers import assert_blind_page, feedback_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def choice():
    campaign = feedback_campaign("choice", name="chp")
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for _ in range(3):
        prompt = PromptFactory()
        for version in (campaign.baseline, campaign.candidate):
            for sample in range(2):
                OutputFactory(
                    prompt=prompt, model_version=version, sample_index=sample,
                    text=f"Reply {next(letters)}: *kindly* wait for the courier.",
                )  # fmt: skip
        campaign.prompts.add(prompt)
    campaign.votes_per_prompt = 2
    campaign.save()
    return campaign


def tokens() -> list[str]:
    return list(ChoiceTask.objects.values_list("token", flat=True)) + list(
        ChoiceTask.objects.values_list("options__key", flat=True)
    )


def form_token(body: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', body).group(1)


def option_keys(body: str) -> list[str]:
    return re.findall(r'name="option" value="([^"n][^"]*)"', body)


def test_rater_works_through_a_choice_campaign(client, make_user, choice):
    rater = make_user("chooser", "rater")
    client.force_login(rater)
    listing = client.get("/choose/")
    assert listing.status_code == 200 and f"/choose/{choice.pk}/" in listing.content.decode()
    url = f"/choose/{choice.pk}/"
    page = client.get(url)
    body = page.content.decode()
    assert body.count('class="choice-option"') == 4  # 2 + 2 samples
    assert client.get(url).content.decode().count(form_token(body)) >= 1  # reload: same task
    seen_prompts = set()
    for _ in range(3):
        body = client.get(url).content.decode()
        token = form_token(body)
        seen_prompts.add(ChoiceTask.objects.get(token=token).prompt_id)
        client.post(
            url + "pick", {"token": token, "option": option_keys(body)[0], "pick_ms": "900"}
        )
    assert len(seen_prompts) == 3
    assert "All done" in client.get(url).content.decode()
    votes = Vote.objects.filter(kind="choice", rater=rater)
    assert votes.count() == 3 and set(votes.values_list("outcome", flat=True)) <= {
        "candidate",
        "baseline",
    }
    assert set(ChoiceTask.objects.values_list("time_to_pick_ms", flat=True)) == {900}


def test_prompts_go_to_votes_per_prompt_raters_least_picked_first(client, make_user, choice):
    for name in ("c1", "c2", "c3"):
        client.force_login(make_user(name, "rater"))
        for _ in range(3):
            body = client.get(f"/choose/{choice.pk}/").content.decode()
            if "All done" in body:
                break
            client.post(f"/choose/{choice.pk}/pick", {"token": form_token(body), "option": "none"})
    per_prompt = {}
    for task in ChoiceTask.objects.filter(status="picked"):
        per_prompt[task.prompt_id] = per_prompt.get(task.prompt_id, 0) + 1
    assert sorted(per_prompt.values()) == [2, 2, 2]  # 3 prompts x votes_per_prompt 2 = 6 picks
    assert Vote.objects.filter(outcome="both_bad").count() == 6


def test_choice_pages_are_blind(client, make_user, choice):
    rater = make_user("blind-chooser", "rater")
    client.force_login(rater)
    url = f"/choose/{choice.pk}/"
    pages = {"list": client.get("/choose/"), "task": client.get(url)}
    token = form_token(pages["task"].content.decode())
    pages["bad pick"] = client.post(url + "pick", {"token": token, "option": "zzz"}, follow=True)
    key = option_keys(pages["bad pick"].content.decode())[0]
    pages["picked"] = client.post(url + "pick", {"token": token, "option": key}, follow=True)
    pages["double pick"] = client.post(url + "pick", {"token": token, "option": key}, follow=True)
    pages["unknown token"] = client.post(url + "pick", {"token": "x", "option": key}, follow=True)
    next_token = form_token(pages["unknown token"].content.decode())
    pages["skip"] = client.post(url + "skip", {"token": next_token}, follow=True)
    pages["missing"] = client.get("/choose/987654/")
    assert pages["missing"].status_code == 404
    campaign_close(campaign=choice)
    pages["closed"] = client.get(url)
    assert pages["closed"].status_code == 409
    client.force_login(make_user("pm-ch", "pm"))
    pages["not a rater"] = client.get(url)
    assert pages["not a rater"].status_code == 403
    for where, response in pages.items():
        assert_blind_page(response.content.decode(), choice, where, tokens())


def test_the_campaign_list_costs_the_same_queries_whatever_its_length(
    client, make_user, choice, django_assert_num_queries
):
    client.force_login(make_user("lister", "rater"))
    client.get("/choose/")
    with django_assert_num_queries(4) as few:
        client.get("/choose/")
    feedback_campaign("choice", name="second")
    feedback_campaign("choice", name="third")
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get("/choose/").content.decode().count('class="card"') == 3


@pytest.mark.django_db(transaction=True)
def test_raters_racing_for_the_last_picks_never_exceed_votes_per_prompt(make_user):
    """Seven raters asking at once for 3 prompts x 2 picks: six tasks, no prompt over its 2."""
    from collections import Counter

    from feedback.services.choice import choice_task_next
    from tests.test_rating_concurrency import _together

    campaign = feedback_campaign("choice", name="chp-race")
    for _ in range(3):
        prompt = PromptFactory()
        for version in (campaign.baseline, campaign.candidate):
            OutputFactory(prompt=prompt, model_version=version, text=f"{version.name} reply")
        campaign.prompts.add(prompt)
    campaign.votes_per_prompt = 2
    campaign.save()
    raters = [make_user(f"racer{i}", "rater") for i in range(7)]
    results = _together(7, lambda i: choice_task_next(campaign=campaign, rater=raters[i]))
    assert not [r for r in results if isinstance(r, Exception)], results
    served = [r for r in results if r is not None]
    assert len(served) == 6 and results.count(None) == 1
    per_prompt = Counter(
        ChoiceTask.objects.filter(campaign=campaign).values_list("prompt_id", flat=True)
    )
    assert sorted(per_prompt.values()) == [2, 2, 2]
