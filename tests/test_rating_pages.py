"""The rater's pages through the Django test client: access, the vote flow, errors, CSRF, XSS."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from evalhub.models import Assignment, Campaign, Comparison, Output, Vote
from evalhub.services.campaigns import campaign_close
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r'<input type="hidden" name="token" value="([^"]+)">')


@pytest.fixture
def rater_client(client, rater):
    client.force_login(rater)
    return client


def vote_url(campaign: Campaign) -> str:
    return f"/rate/{campaign.pk}/"


def serve(client: Client, campaign: Campaign) -> Assignment:
    """GET the vote page and return the assignment behind the token it shows."""
    response = client.get(vote_url(campaign))
    assert response.status_code == 200, response.content
    match = TOKEN_RE.search(response.content.decode())
    assert match, "the vote page shows no token"
    return Assignment.objects.select_related("comparison").get(token=match.group(1))


def post_vote(client: Client, campaign: Campaign, token: str, choice: str, reason: str = ""):
    return client.post(
        f"/rate/{campaign.pk}/vote",
        {"token": token, "choice": choice, "reason": reason},
        follow=True,
    )


def flash_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/rate/", "/rate/{id}/"])
def test_pages_need_login(client, open_campaign, path):
    url = path.format(id=open_campaign.pk)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_posts_need_login_and_store_nothing(client, open_campaign):
    response = client.post(f"/rate/{open_campaign.pk}/vote", {"token": "x", "choice": "left"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Vote.objects.count() == 0


def test_non_rater_gets_a_403_page(client, pm, open_campaign):
    client.force_login(pm)
    for url in ("/rate/", vote_url(open_campaign)):
        response = client.get(url)
        assert response.status_code == 403
        assert "does not have the rater role" in response.content.decode()
    response = client.post(f"/rate/{open_campaign.pk}/vote", {"token": "x", "choice": "left"})
    assert response.status_code == 403
    assert Assignment.objects.count() == 0


def test_list_shows_rater_title_and_own_progress_only(rater_client, rater, make_user):
    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=2, name="gpt-x")
    Campaign.objects.filter(pk=campaign.pk).update(rater_title="Support replies, round 2")
    other = Client()
    other.force_login(make_user("other-rater"))
    assignment = serve(other, campaign)
    post_vote(other, campaign, assignment.token, "left")
    assignment = serve(rater_client, campaign)
    post_vote(rater_client, campaign, assignment.token, "tie")

    html = rater_client.get("/rate/").content.decode()
    assert "Support replies, round 2" in html
    assert campaign.name not in html
    assert "You have rated 1 in this campaign." in html
    assert "4 votes still needed." in html  # 3 comparisons x 2 votes - 2 votes cast
    assert f'href="/rate/{campaign.pk}/"' in html


def test_list_hides_campaigns_outside_the_pool_and_closed_ones(rater_client, make_user):
    mine = open_campaign_with_outputs(n_prompts=1, name="mine")
    open_campaign_with_outputs(n_prompts=1, name="theirs", raters=[make_user("someone")])
    campaign_close(campaign=open_campaign_with_outputs(n_prompts=1, name="closed"))
    html = rater_client.get("/rate/").content.decode()
    assert html.count('class="card campaign-card"') == 1
    assert mine.display_title in html


def test_list_is_friendly_when_empty(rater_client):
    response = rater_client.get("/rate/")
    assert response.status_code == 200
    assert "Nothing to rate right now" in response.content.decode()


# --- the vote page and the vote flow ----------------------------------------------------------


def test_vote_page_shows_prompt_both_answers_and_guidelines(rater_client, open_campaign):
    response = rater_client.get(vote_url(open_campaign))
    html = response.content.decode()
    assignment = Assignment.objects.get()
    comparison = assignment.comparison
    left, right = (
        (comparison.candidate_output, comparison.baseline_output)
        if assignment.candidate_side == "left"
        else (comparison.baseline_output, comparison.candidate_output)
    )
    left_section = html.split('class="answer answer-left"', 1)[1].split("</section>", 1)[0]
    right_section = html.split('class="answer answer-right"', 1)[1].split("</section>", 1)[0]
    assert left.text in left_section and right.text in right_section
    assert comparison.prompt.instruction in html
    assert "Pick the <strong>more helpful</strong> answer." in html  # guidelines as markdown
    assert "You have rated 0 in this campaign." in html
    for choice in ("left", "right", "tie", "both_bad"):
        assert f'name="choice" value="{choice}"' in html
    assert f'formaction="/rate/{open_campaign.pk}/skip"' in html
    assert 'src="/static/evalhub/rate.js"' in html


def test_reload_shows_the_same_pair(rater_client, open_campaign):
    first = serve(rater_client, open_campaign)
    second = serve(rater_client, open_campaign)
    assert first.pk == second.pk
    assert Assignment.objects.count() == 1


def test_system_and_history_render_as_markdown(rater_client):
    campaign = open_campaign_with_outputs(n_prompts=1)
    campaign.prompts.update(
        system="You are a *careful* agent.", history=[["Hi **there**", "Hello, how can I help?"]]
    )
    html = rater_client.get(vote_url(campaign)).content.decode()
    assert "You are a <em>careful</em> agent." in html
    assert "Hi <strong>there</strong>" in html
    assert "Hello, how can I help?" in html


@pytest.mark.parametrize("choice", ["left", "right", "tie", "both_bad"])
def test_vote_through_the_form_records_the_outcome_for_the_side_shown(
    rater_client, open_campaign, choice
):
    assignment = serve(rater_client, open_campaign)
    response = post_vote(rater_client, open_campaign, assignment.token, choice, " too long ")
    assert response.status_code == 200
    assert response.redirect_chain == [(f"/rate/{open_campaign.pk}/", 302)]
    assert "Vote recorded." in flash_messages(response)
    vote = Vote.objects.get()
    expected = {
        "tie": "tie",
        "both_bad": "both_bad",
        "left": "candidate" if assignment.candidate_side == "left" else "baseline",
        "right": "candidate" if assignment.candidate_side == "right" else "baseline",
    }[choice]
    assert (vote.choice, vote.outcome, vote.reason) == (choice, expected, "too long")
    assert vote.candidate_side == assignment.candidate_side
    assert vote.comparison_id == assignment.comparison_id
    assert Assignment.objects.get(pk=assignment.pk).status == "voted"
    # ... and the next comparison is already on the page.
    assert TOKEN_RE.search(response.content.decode()).group(1) != assignment.token
    assert "You have rated 1 in this campaign." in response.content.decode()


def test_csrf_is_enforced(rater, open_campaign):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rater)
    assignment = serve(client, open_campaign)
    url = f"/rate/{open_campaign.pk}/vote"
    response = client.post(url, {"token": assignment.token, "choice": "left"})
    assert response.status_code == 403
    assert Vote.objects.count() == 0
    assert Assignment.objects.get(pk=assignment.pk).status == "served"
    skipped = client.post(f"/rate/{open_campaign.pk}/skip", {"token": assignment.token})
    assert skipped.status_code == 403
    assert Assignment.objects.get(pk=assignment.pk).status == "served"
    # With the token from the page's cookie the same post goes through.
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        url, {"token": assignment.token, "choice": "left", "csrfmiddlewaretoken": csrf}
    )
    assert response.status_code == 302
    assert Vote.objects.count() == 1


def test_double_submit_keeps_the_first_vote_and_says_so(rater_client, open_campaign):
    assignment = serve(rater_client, open_campaign)
    post_vote(rater_client, open_campaign, assignment.token, "left")
    again = post_vote(rater_client, open_campaign, assignment.token, "right")
    assert again.status_code == 200
    assert flash_messages(again) == [
        "You already voted on that comparison; your first vote was kept."
    ]
    vote = Vote.objects.get()
    assert vote.choice == "left"
    assert Comparison.objects.get(pk=assignment.comparison_id).vote_count == 1


def test_expired_token_is_explained_and_stores_nothing(rater_client, open_campaign):
    assignment = serve(rater_client, open_campaign)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at="2000-01-01T00:00:00Z")
    response = post_vote(rater_client, open_campaign, assignment.token, "left")
    assert response.status_code == 200
    assert any("expired" in m for m in flash_messages(response))
    assert Vote.objects.count() == 0
    # A fresh comparison is served straight away (never the expired one again).
    fresh = TOKEN_RE.search(response.content.decode()).group(1)
    assert Assignment.objects.get(token=fresh).comparison_id != assignment.comparison_id


def test_foreign_token_changes_nothing(client, rater_client, make_user, open_campaign):
    client_b = Client()
    client_b.force_login(make_user("bob"))
    bobs = serve(client_b, open_campaign)
    response = post_vote(rater_client, open_campaign, bobs.token, "left")
    assert flash_messages(response) == [
        "That comparison is not one of yours any more, so nothing was recorded."
    ]
    skip = rater_client.post(f"/rate/{open_campaign.pk}/skip", {"token": bobs.token}, follow=True)
    assert "nothing was skipped" in flash_messages(skip)[0]
    assert Vote.objects.count() == 0
    assert Assignment.objects.get(pk=bobs.pk).status == "served"


def test_token_of_another_campaign_is_refused(rater_client, open_campaign):
    other = open_campaign_with_outputs(n_prompts=1, name="other")
    assignment = serve(rater_client, other)
    response = post_vote(rater_client, open_campaign, assignment.token, "left")
    assert "not one of yours" in flash_messages(response)[0]
    assert Vote.objects.count() == 0


@pytest.mark.parametrize("choice", ["", "up", "LEFT", "candidate"])
def test_bad_choice_is_refused(rater_client, open_campaign, choice):
    assignment = serve(rater_client, open_campaign)
    response = post_vote(rater_client, open_campaign, assignment.token, choice)
    assert "Unknown choice" in flash_messages(response)[0]
    assert Vote.objects.count() == 0
    assert TOKEN_RE.search(response.content.decode()).group(1) == assignment.token


def test_get_on_the_post_urls_is_405(rater_client, open_campaign):
    assert rater_client.get(f"/rate/{open_campaign.pk}/vote").status_code == 405
    assert rater_client.get(f"/rate/{open_campaign.pk}/skip").status_code == 405


def test_skip_frees_the_item_for_another_rater(rater_client, make_user):
    campaign = open_campaign_with_outputs(n_prompts=2, votes_per_prompt=1)
    assignment = serve(rater_client, campaign)
    response = rater_client.post(
        f"/rate/{campaign.pk}/skip", {"token": assignment.token}, follow=True
    )
    assert response.status_code == 200
    assert "Skipped." in flash_messages(response)[0]
    assert Assignment.objects.get(pk=assignment.pk).status == "skipped"
    assert Comparison.objects.get(pk=assignment.comparison_id).load == 0
    served_next = TOKEN_RE.search(response.content.decode()).group(1)
    assert Assignment.objects.get(token=served_next).comparison_id != assignment.comparison_id
    again = rater_client.post(f"/rate/{campaign.pk}/skip", {"token": assignment.token}, follow=True)
    assert flash_messages(again) == ["That comparison was already skipped."]

    # The other comparison is reserved by this rater, so the freed one is the only one left.
    other = Client()
    other.force_login(make_user("second-rater"))
    assert serve(other, campaign).comparison_id == assignment.comparison_id


def test_all_done_page(rater_client):
    campaign = open_campaign_with_outputs(n_prompts=2, votes_per_prompt=1)
    for _ in range(2):
        response = post_vote(rater_client, campaign, serve(rater_client, campaign).token, "tie")
    assert response.status_code == 200
    html = response.content.decode()
    assert "All done" in html
    assert "You have rated 2 in this campaign." in html
    assert 'href="/rate/"' in html
    assert "Vote recorded." in flash_messages(response)
    assert rater_client.get(vote_url(campaign)).status_code == 200


# --- campaigns a rater cannot rate ------------------------------------------------------------


def test_closed_campaign_is_a_409_page(rater_client, open_campaign):
    campaign_close(campaign=open_campaign)
    response = rater_client.get(vote_url(open_campaign))
    assert response.status_code == 409
    html = response.content.decode()
    assert "This campaign is not open" in html
    assert open_campaign.display_title in html and open_campaign.name not in html


def test_vote_after_close_is_refused(rater_client, open_campaign):
    assignment = serve(rater_client, open_campaign)
    campaign_close(campaign=open_campaign)
    response = post_vote(rater_client, open_campaign, assignment.token, "left")
    assert response.status_code == 409
    assert flash_messages(response) == ["This campaign is closed; your vote was not recorded."]
    assert Vote.objects.count() == 0


def test_rater_outside_the_pool_gets_a_404_page(rater_client, make_user):
    """Someone else's campaign looks missing: its existence and status are not told."""
    campaign = open_campaign_with_outputs(n_prompts=1, raters=[make_user("insider")])
    response = rater_client.get(vote_url(campaign))
    assert response.status_code == 404
    campaign_close(campaign=campaign)
    assert rater_client.get(vote_url(campaign)).status_code == 404  # not 409: status not told
    assert Assignment.objects.count() == 0


def test_missing_or_non_pairwise_campaign_is_a_404_page(rater_client, open_campaign):
    assert rater_client.get("/rate/999999/").status_code == 404
    Campaign.objects.filter(pk=open_campaign.pk).update(kind="thumbs")
    response = rater_client.get(vote_url(open_campaign))
    assert response.status_code == 404
    assert "No such campaign" in response.content.decode()


# --- untrusted text -----------------------------------------------------------------------------

HOSTILE = (
    "<script>alert(1)</script>\n\n"
    "<img src=x onerror=alert(1)>\n\n"
    "[link](javascript:alert(1))\n\n"
    '<a href="javascript:alert(2)" onclick="alert(3)">x</a>'
)


class TagCollector(HTMLParser):
    """Every tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text.append(data)


def test_hostile_model_text_renders_inertly(rater_client):
    campaign = open_campaign_with_outputs(n_prompts=1)
    Output.objects.update(text=HOSTILE)
    campaign.prompts.update(instruction=HOSTILE, system=HOSTILE, history=[[HOSTILE, HOSTILE]])
    Campaign.objects.filter(pk=campaign.pk).update(guidelines=HOSTILE)

    html = rater_client.get(vote_url(campaign)).content.decode()
    assert "<script>alert" not in html
    assert "<img" not in html
    parser = TagCollector()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any("javascript:" in value.lower() for value in attrs.values()), (tag, attrs)
        if tag == "script":
            assert attrs.get("src") == "/static/evalhub/rate.js"
    assert "alert" not in "".join(parser.script_text)
    # The text itself stays visible, escaped, in all seven places it was put.
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 7
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 7
    assert html.count("[link](javascript:alert(1))") == 7


# --- cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_prompts", [2, 30])
def test_vote_page_query_count_is_small_and_flat(
    rater_client, django_assert_max_num_queries, n_prompts
):
    campaign = open_campaign_with_outputs(n_prompts=n_prompts, votes_per_prompt=3)
    # First visit reserves a comparison (a few writes); later visits re-serve it.
    with django_assert_max_num_queries(18):
        assert rater_client.get(vote_url(campaign)).status_code == 200
    with django_assert_max_num_queries(10):
        assert rater_client.get(vote_url(campaign)).status_code == 200
