"""python manage.py generate CAMPAIGN [--inline | --wait] [--sample-index N] [--sampling shared|own]

Produces the campaign's missing baseline and candidate outputs (never regenerates what exists),
then opens it for rating. By default the work is queued for the worker (``manage.py worker``) and
the job id is printed; ``--wait`` also follows the job until it ends; ``--inline`` runs it here,
in the foreground. Either way it is a job on the jobs page (/jobs/), where it can be cancelled.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from evalhub.generation_tasks import run_generation_job
from evalhub.management.commands._base import ServiceCommand
from evalhub.models import Job
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.selectors.jobs import job_active_for_campaign
from evalhub.services.errors import Conflict
from evalhub.services.generation import SAMPLING_CHOICES, campaign_generate_enqueue


class Command(ServiceCommand):
    help = "Generate a campaign's missing outputs (baseline and candidate), then open it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--inline", action="store_true", help="Run here, in the foreground.")
        mode.add_argument(
            "--wait", action="store_true", help="Queue for the worker and follow it to the end."
        )
        parser.add_argument("--sample-index", type=int, default=0)
        parser.add_argument(
            "--sampling",
            choices=SAMPLING_CHOICES,
            default="shared",
            help="shared (default): the baseline's sampling parameters for both sides; "
            "own: each model its own.",
        )
        parser.add_argument("--temperature", type=float, default=None)
        parser.add_argument("--top-p", type=float, default=None)
        parser.add_argument("--max-tokens", type=int, default=None)
        parser.add_argument("--seed", type=int, default=None)

    def run(self, *args: Any, **o: Any) -> None:
        campaign = campaign_get_by_ref(o["campaign"])
        override = {
            key: o[key]
            for key in ("temperature", "top_p", "max_tokens", "seed")
            if o[key] is not None
        }
        try:
            job = campaign_generate_enqueue(
                campaign=campaign,
                sample_index=o["sample_index"],
                sampling=o["sampling"],
                params_override=override,
            )
        except Conflict as exc:
            active = job_active_for_campaign(campaign=campaign)
            if not o["wait"] or active is None:
                raise
            self.stdout.write(f"{exc} Following it.")
            job = active
        if o["inline"]:
            self._inline(job)
        elif o["wait"]:
            self.stdout.write(f"queued job {job.pk}; waiting for a worker (manage.py worker)")
            self._report(self._follow(job))
        else:
            self.stdout.write(
                f"queued job {job.pk}: generate outputs for {campaign.name!r}\n"
                f"  watch it at /jobs/{job.pk}/ or with: python manage.py generate "
                f"{campaign.pk} --wait\n  (a worker must be running: python manage.py worker)"
            )

    def _stream(self) -> Any:
        """The raw stderr stream for tqdm (Django's wrapper would end every redraw with a newline)."""
        return getattr(self.stderr, "_out", sys.stderr)

    def _inline(self, job: Job) -> None:
        bar = tqdm(total=0, unit="output", file=self._stream(), desc="generate", dynamic_ncols=True)

        def on_progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        try:
            summary = run_generation_job(job.pk, on_progress=on_progress)
        except KeyboardInterrupt:
            # Ctrl-C: this process was the job's worker, so the job ends here (cancelled, not
            # left "running" until a worker notices its heartbeat stopped). Outputs so far stay.
            Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
                state=Job.State.CANCELLED,
                cancel_requested=True,
                finished_at=timezone.now(),
                error="Interrupted from the keyboard; run generate again (or Retry) to resume.",
            )
            raise CommandError(
                f"interrupted; job {job.pk} cancelled, outputs so far kept"
            ) from None
        finally:
            bar.close()
        job.refresh_from_db()
        if summary is None and job.state in (Job.State.QUEUED, Job.State.RUNNING):
            self.stdout.write(f"job {job.pk} was taken by a worker; following it")
            job = self._follow(job)
        self._report(job)

    def _follow(self, job: Job) -> Job:
        bar = tqdm(total=0, unit="output", file=self._stream(), desc=f"job {job.pk}")
        try:
            while True:
                job.refresh_from_db()
                bar.total, bar.n = job.progress_total, job.progress_done
                bar.set_postfix_str(f"{job.state} {job.message}", refresh=False)
                bar.refresh()
                if job.is_finished:
                    break
                time.sleep(0.5)
        finally:
            bar.close()
        return job

    def _report(self, job: Job) -> None:
        result = job.result or {}
        if result:
            present, generated = result.get("present_before", 0), result.get("generated", 0)
            self.stdout.write(
                f"job {job.pk} {job.state}: generated {generated}, already present {present}, "
                f"failed {result.get('failed', 0)}, missing {result.get('missing', 0)} "
                f"of {result.get('total', 0)} in {result.get('seconds', 0):.1f} s"
            )
            for failure in result.get("failures", [])[:10]:
                self.stdout.write(
                    f"  failed: prompt {failure['external_id'] or failure['prompt_id']} "
                    f"({failure['side']}): {failure['error']}"
                )
            if result.get("opened"):
                self.stdout.write(f"campaign open: {result.get('comparisons', 0)} comparisons")
        if job.state != Job.State.SUCCEEDED:
            reason = (job.error or job.state).split("\n\n")[0]
            raise CommandError(
                f"job {job.pk} {job.state}: {reason} (retry: POST /api/v1/jobs/{job.pk}/retry "
                f"or the Retry button at /jobs/{job.pk}/)"
            )
