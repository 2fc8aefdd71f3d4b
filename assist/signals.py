"""Runs follow their job when the job changes state without the run's own task seeing it.

A job cancelled while still queued never starts its task, so the run would stay "queued"; a
retried (or recovered) job goes back to the queue while its run still says "cancelled", "failed"
or "running"; a worker killed for good leaves its run "running". A task that ends normally has
already written its run's outcome before its job's, so then nothing here changes.
"""

from __future__ import annotations

from typing import Any

from evalhub.models import Job

# job state -> (the run state it becomes, the run states that follow it)
_FOLLOW = {
    Job.State.CANCELLED: ("cancelled", ("queued", "running")),
    Job.State.FAILED: ("failed", ("queued", "running")),
    Job.State.QUEUED: ("queued", ("running", "cancelled", "failed")),
}


def run_follows_job(sender: type[Job], instance: Job, created: bool = False, **_: Any) -> None:
    if created or instance.state not in _FOLLOW:
        return
    from assist.models import AugmentationRun, JudgeRun

    status, before = _FOLLOW[instance.state]
    for model in (JudgeRun, AugmentationRun):
        model.objects.filter(job_id=instance.pk, status__in=before).update(status=status)
