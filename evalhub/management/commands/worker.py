"""python manage.py worker: the background worker (django-tasks-db) with job recovery.

Before it takes tasks, and every 30 s while it runs, jobs whose worker died (stale heartbeat)
are re-queued or failed, and expired rating reservations are freed. Flags after ``--`` go to ``db_worker`` (e.g. ``--batch``).
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from evalhub.services.jobs import jobs_recover
from evalhub.services.rating import assignments_release_expired

RECOVER_EVERY_SECONDS = 30.0


class Command(BaseCommand):
    help = "Run the background worker (generation, exports, training), recovering orphaned jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", action="store_true", help="Run what is queued, then exit.")
        parser.add_argument("--max-tasks", type=int, default=None)
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument("--queue-name", default="*")

    def _recover(self) -> None:
        for job in jobs_recover():
            self.stderr.write(f"recovered job {job.pk} ({job.kind}): now {job.state}")
        # Free abandoned rating reservations even when no rater asks for work.
        assignments_release_expired()

    def handle(self, *args: Any, **options: Any) -> None:
        self._recover()
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(RECOVER_EVERY_SECONDS):
                try:
                    self._recover()
                finally:
                    close_old_connections()

        threading.Thread(target=loop, daemon=True).start()
        argv: list[Any] = [
            "--no-reload",
            "--no-startup-delay",
            "--queue-name",
            options["queue_name"],
            "--interval",
            str(options["interval"]),
        ]
        if options["batch"]:
            argv.append("--batch")
        if options["max_tasks"]:
            argv += ["--max-tasks", str(options["max_tasks"])]
        try:
            call_command("db_worker", *argv, verbosity=options["verbosity"])
        finally:
            stop.set()
