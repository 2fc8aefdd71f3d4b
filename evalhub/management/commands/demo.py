"""python manage.py demo: load the bundled customer-service demo into the current database.

Steps (each says what it does): roles and users for every role (printing their logins), the
bundled prompts, the two demo model versions and their answers, a pairwise campaign opened for
rating. Idempotent: running it again changes nothing that exists.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from evalhub.generation.corpus import demo_prompts_path
from evalhub.models import Campaign, ModelVersion, Prompt
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.users import user_create_with_role

DEMO_USERS = [
    ("admin", "admin"),
    ("pm", "pm"),
    ("rater1", "rater"),
    ("rater2", "rater"),
    ("rater3", "rater"),
    ("agent", "agent"),
]
BASELINE, CANDIDATE = "demo-curt", "demo-warm"
CAMPAIGN = "Demo: warm replies (demo-warm) vs curt replies (demo-curt)"
GUIDELINES = """\
You will see a customer's message and two replies written by support assistants.

- Pick the reply you would rather **send to the customer**: correct, specific, kind, actionable.
- **Tie** when both are equally good; **Both bad** when you would send neither.
- Keys: `1` / `←` left, `2` / `→` right, `3` tie, `4` both bad, `s` skip, `?` these guidelines.
"""


class Command(BaseCommand):
    help = "Load the bundled demo (users, prompts, models, answers, an open campaign)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-suffix", default="-demo-pass", help="Password = username + this."
        )
        parser.add_argument(
            "--prompts", type=int, default=60, help="How many bundled prompts to rate."
        )

    def step(self, text: str) -> float:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))
        return time.perf_counter()

    def done(self, started: float, text: str = "") -> None:
        self.stdout.write(
            f"    {text + ' ' if text else ''}({time.perf_counter() - started:.1f} s)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        t = self.step("users for every role")
        logins = []
        for username, role in DEMO_USERS:
            password = username + options["password_suffix"]
            user_create_with_role(username=username, role=role, password=password)
            logins.append((username, role, password))
        self.done(t, f"{len(logins)} users")

        t = self.step("bundled customer-service prompts")
        path = demo_prompts_path()
        call_command("import_prompts", str(path), "--no-progress", stdout=_Quiet(), stderr=_Quiet())
        self.done(t, f"{Prompt.objects.count()} prompts stored")

        t = self.step("demo model versions and their answers")
        created = self._load_answers(path)
        self.done(t, f"{created} answers")

        t = self.step("a pairwise campaign, opened for rating")
        campaign = Campaign.objects.filter(name=CAMPAIGN).first()
        if campaign is None:
            external_ids = [row["external_id"] for row in _rows(path)][: options["prompts"]]
            campaign = campaign_create(
                name=CAMPAIGN,
                rater_title="Customer-service replies",
                baseline=ModelVersion.objects.get(name=BASELINE),
                candidate=ModelVersion.objects.get(name=CANDIDATE),
                prompts=Prompt.objects.filter(external_id__in=external_ids),
                votes_per_prompt=3,
                guidelines=GUIDELINES,
            )
        result = campaign_open(campaign=campaign)
        self.done(t, f"campaign {campaign.pk}: {result.comparisons_total} comparisons")

        self.stdout.write(self.style.SUCCESS("\nDemo ready. Logins (username / password / role):"))
        for username, role, password in logins:
            self.stdout.write(f"    {username:<8} {password:<20} {role}")

    def _load_answers(self, path: Path) -> int:
        """The bundled reference answers in two styles, as two imported model versions."""
        base, _ = ModelVersion.objects.get_or_create(
            name=BASELINE,
            defaults={"method": "base", "description": "Curt, correct replies (bundled)."},
        )
        ModelVersion.objects.get_or_create(
            name=CANDIDATE,
            defaults={
                "parent": base,
                "method": "sft",
                "description": "Warm, specific replies (bundled).",
            },
        )
        lines = []
        for row in _rows(path):
            for model, field in ((BASELINE, "baseline_answer"), (CANDIDATE, "better_answer")):
                if row.get(field):
                    lines.append(
                        {
                            "prompt_external_id": row["external_id"],
                            "model": model,
                            "text": row[field],
                        }
                    )
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
            handle.write("\n".join(json.dumps(line) for line in lines))
        try:
            call_command(
                "import_outputs", handle.name, "--no-progress", stdout=_Quiet(), stderr=_Quiet()
            )
        finally:
            Path(handle.name).unlink()
        return len(lines)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class _Quiet:
    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass
