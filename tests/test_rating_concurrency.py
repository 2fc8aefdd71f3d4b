"""Races the review found, now tests: raters arriving together at the last slots, a retried vote
racing its original, sweeps, closing during generation, a removed rater, stale permissions,
and a job whose lease was taken over. Real threads, real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from rest_framework.test import APIClient

from evalhub.api.errors import exception_handler
from evalhub.models import Assignment, Comparison, Job, Vote
from evalhub.roles import has_perm_cached
from evalhub.selectors.rating import campaigns_for_rater
from evalhub.services.campaigns import campaign_close, campaign_open
from evalhub.services.errors import Conflict, Forbidden
from evalhub.services.jobs import JobLeaseLost, job_create, job_execution
from evalhub.services.rating import assignment_next, vote_record
from tests.factories import open_campaign_with_outputs


def _together(n: int, work) -> list:
    """Run work(i) in n threads released at once; returns results (or exceptions)."""
    barrier, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_raters_arriving_together_take_every_slot_and_no_more(make_user):
    campaign = open_campaign_with_outputs(n_prompts=2, votes_per_prompt=3)
    raters = [make_user(f"r{i}") for i in range(7)]
    results = _together(7, lambda i: assignment_next(campaign=campaign, rater=raters[i]))
    served = [r for r in results if isinstance(r, Assignment)]
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(served) == 6  # 2 comparisons x 3 slots: all taken, none twice
    assert sorted(Comparison.objects.values_list("load", flat=True)) == [3, 3]
    assert results.count(None) == 1


@pytest.mark.django_db(transaction=True)
def test_retry_racing_the_original_replays_it(make_user):
    campaign = open_campaign_with_outputs(n_prompts=1, votes_per_prompt=1)
    rater = make_user("racer")
    token = assignment_next(campaign=campaign, rater=rater).token

    def post(_: int):
        client = APIClient()
        client.force_authenticate(rater)
        response = client.post(
            "/api/v1/votes",
            {"token": token, "choice": "left"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k1",
        )
        return response.status_code, response.json()

    results = _together(4, post)
    assert [status for status, _ in results] == [201] * 4, results
    assert len({json.dumps(body, sort_keys=True) for _, body in results}) == 1
    assert Vote.objects.count() == 1


@pytest.mark.django_db
def test_generation_finishing_does_not_reopen_a_closed_campaign():
    campaign = open_campaign_with_outputs(n_prompts=1)
    campaign_close(campaign=campaign)
    with pytest.raises(Conflict):
        campaign_open(campaign=campaign, allowed_from={"draft", "generating", "open"})
    campaign.refresh_from_db()
    assert campaign.status == "closed"


@pytest.mark.django_db
def test_rater_removed_from_the_pool_cannot_vote_on_a_held_item(make_user):
    insider = make_user("insider")
    campaign = open_campaign_with_outputs(n_prompts=1, raters=[insider])
    token = assignment_next(campaign=campaign, rater=insider).token
    campaign.raters.set([make_user("other")])
    with pytest.raises(Forbidden):
        vote_record(rater=insider, token=token, choice="left")
    assert Vote.objects.count() == 0


@pytest.mark.django_db
def test_expired_reservation_does_not_hide_work_on_the_list(api_client, make_user):
    campaign = open_campaign_with_outputs(n_prompts=1, votes_per_prompt=1)
    first, second = make_user("first"), make_user("second")
    assignment_next(campaign=campaign, rater=first)
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client = api_client.__class__()
    client.force_login(second)
    import evalhub.services.rating as rating

    rating._last_sweep.clear()
    assert b"Nothing left for you here" not in client.get("/rate/").content
    [item] = campaigns_for_rater(rater=second)
    assert item.has_work_for_me


@pytest.mark.django_db
def test_role_change_clears_cached_permissions(make_user):
    from django.contrib.auth.models import Group

    user = make_user("temp-rater")
    assert has_perm_cached(user, "evalhub.rate_campaign")
    user.groups.remove(Group.objects.get(name="rater"))
    user = type(user).objects.get(pk=user.pk)
    assert not has_perm_cached(user, "evalhub.rate_campaign")


@pytest.mark.django_db
def test_a_job_whose_lease_was_taken_over_writes_nothing():
    job = job_create(
        kind="selftest", title="lease", task_path="evalhub.tasks.evalhub_selftest_task"
    )
    with job_execution(job.pk) as run:
        # The heartbeat went stale, another worker re-queued and claimed it (attempt 2).
        Job.objects.filter(pk=job.pk).update(attempts=2, progress_done=7)
        with pytest.raises(JobLeaseLost):
            run.progress(1, 5)
        raise JobLeaseLost
    job.refresh_from_db()
    assert (job.state, job.progress_done, job.attempts) == ("running", 7, 2)


def test_database_outage_is_a_json_503():
    response = exception_handler(OperationalError("server closed the connection"), {})
    assert response.status_code == 503
    assert response.data["error"]["code"] == "database_unavailable"
