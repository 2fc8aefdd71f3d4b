"""Background task functions of evalhub (thin: a job id in, one service call).

``evalhub_selftest_task`` exists so the job machinery can be checked end to end (the worker, the
states, progress, cancel and recovery) without generation or training.
"""

from __future__ import annotations

import time

from django_tasks import task

from evalhub.services.jobs import job_execution


@task()
def evalhub_selftest_task(job_id: int) -> None:
    """Count to params["steps"], sleeping params["sleep"] s a step; fail at params["fail_at"]."""
    with job_execution(job_id) as run:
        if run is None:
            return
        params = run.job.params
        steps = int(params.get("steps", 3))
        start = int(run.job.result.get("done", 0)) if run.job.result else 0
        for step in range(start, steps):
            if params.get("fail_at") == step:
                raise RuntimeError(f"asked to fail at step {step}")
            time.sleep(float(params.get("sleep", 0)))
            run.progress(step + 1, steps, f"step {step + 1} of {steps}")
        run.job.result = {"done": steps}
