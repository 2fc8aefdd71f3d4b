"""python manage.py prelabel TASK_ID --run APPROVED_JUDGE_RUN_ID [--limit N] [--one-order] [--queue]

Pre-labels a labeling task's items with the judge of an approved pairs run (its agreement with
people was measured and a manager accepted it); answers are stored as AI annotations
(``is_ai``), suggestions for reviewers that never count toward consensus.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from assist.management.commands._follow import run_inline
from assist.models import JudgeRun
from assist.services.prelabel import prelabel_run_create
from assist.tasks import run_judge_job
from evalhub.management.commands._base import ServiceCommand
from labeling.models import LabelingTask


class Command(ServiceCommand):
    help = "AI pre-labels for a labeling task, by the judge of an approved judge run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task", type=int, help="Labeling task id.")
        parser.add_argument("--run", type=int, required=True, help="Approved judge run id.")
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--one-order", action="store_true")
        parser.add_argument("--queue", action="store_true", help="Queue for the worker; return.")

    def run(self, *args: Any, **o: Any) -> None:
        task = LabelingTask.objects.filter(pk=o["task"]).first()
        approved = JudgeRun.objects.filter(pk=o["run"]).first()
        if task is None or approved is None:
            raise CommandError("No such labeling task or judge run.")
        run = prelabel_run_create(
            task=task, approved_run=approved, both_orders=not o["one_order"], limit=o["limit"]
        )
        if o["queue"]:
            self.stdout.write(f"queued pre-label run {run.pk} (job {run.job_id})")
            return
        run_inline(self, run.job_id, run_judge_job, unit="item", desc="pre-label")
        run.refresh_from_db()
        counts = run.counts
        self.stdout.write(
            f"pre-label run {run.pk} [AI labels]: {counts.get('annotated', 0)} AI annotations on "
            f"{counts.get('judged', 0)} items ({counts.get('inconsistent', 0)} inconsistent -> tie, "
            f"{counts.get('invalid', 0)} unreadable, {counts.get('unsupported', 0)} unsupported)"
        )
