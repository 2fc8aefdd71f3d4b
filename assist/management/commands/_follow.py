"""Shared by ``manage.py judge`` and ``manage.py augment``: run a job here with a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from evalhub.models import Job


def run_inline(
    command: BaseCommand, job_id: int, body: Callable[..., Any], *, unit: str, desc: str
) -> Any:
    """Run ``body(job_id, on_progress=...)`` in the foreground; Ctrl-C cancels the job cleanly."""
    stream = getattr(command.stderr, "_out", sys.stderr)
    bar = tqdm(total=0, unit=unit, file=stream, desc=desc, dynamic_ncols=True)

    def on_progress(done: int, total: int, message: str) -> None:
        bar.total, bar.n = total, done
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        result = body(job_id, on_progress=on_progress)
    except KeyboardInterrupt:
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
            state=Job.State.CANCELLED,
            cancel_requested=True,
            finished_at=timezone.now(),
            error="Interrupted from the keyboard; retry the job to resume.",
        )
        raise CommandError(f"interrupted; job {job_id} cancelled, work so far kept") from None
    finally:
        bar.close()
    job = Job.objects.get(pk=job_id)
    if job.state != Job.State.SUCCEEDED:
        reason = (job.error or job.state).split("\n\n")[0]
        raise CommandError(f"job {job_id} {job.state}: {reason}")
    return result
