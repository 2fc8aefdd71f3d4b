"""python manage.py demo: load the customer-service demo into the current database.

Steps, each announced with what it does and how long it took:

1. roles and one user per role (their logins are printed at the end);
2. the bundled customer-service prompts (312, labelled), registered as a data source;
3. the tiny demo models, built here on the CPU (``build_demo_models``): a base that answers curtly
   (``tiny-cs-base``) and a LoRA adapter trained to answer warmly (``tiny-cs-warm``);
4. a pairwise campaign, candidate ``tiny-cs-warm`` against baseline ``tiny-cs-base``, on 100 of
   the prompts (every label), 3 votes per prompt;
5. generation: both models really answer those prompts through the local transformers + peft
   backend (the campaign's generation job, run in this process); the campaign opens for rating;
6. a 2+2 workbench campaign between the same two models with 20 customer conversations queued
   (the 4 suggestions are generated when an agent opens a conversation);
7. an open labeling task for the raters (which scenario is this message?, 30 prompts, 2 labels
   each), created through the ``labeling_task`` command;
8. with ``--simulate-votes``: simulated raters fill all but one vote slot of every comparison of
   the pairwise campaign (through the real rating service, each vote stored with
   ``is_simulated=True`` and labelled "simulated" on the dashboard), so that the dashboard shows
   a verdict and preference pairs can be built at once (``build_pairs --include-simulated``).

Idempotent: running it again changes nothing that exists (models are not rebuilt, outputs are not
regenerated, simulated raters find nothing left to vote on). ``--simulate-votes-for CAMPAIGN``
only fills that campaign (e.g. the follow-up campaign of a training run) with simulated votes.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from evalhub.generation.corpus import demo_prompts_path
from evalhub.generation.demo_models import DEMO_ADAPTER_NAME, DEMO_BASE_NAME
from evalhub.models import Campaign, DataSource, ModelVersion, Prompt, Vote
from evalhub.models.campaigns import Choice, Outcome, Side
from evalhub.selectors.campaigns import campaign_get_by_ref
from evalhub.selectors.jobs import campaign_outputs_missing
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.errors import ServiceError
from evalhub.services.rating import assignment_next, vote_record
from evalhub.services.sources import data_source_create
from evalhub.services.users import user_create_with_role

DEMO_USERS = [
    ("admin", "admin"),
    ("pm", "pm"),
    ("rater1", "rater"),
    ("rater2", "rater"),
    ("rater3", "rater"),
    ("agent", "agent"),
    ("expert", "expert"),
]
BASELINE, CANDIDATE = DEMO_BASE_NAME, DEMO_ADAPTER_NAME
DEMO_SOURCE = "Demo: bundled customer-service prompts"
LABELING_TASK = "Demo labeling: which scenario is this message?"
CAMPAIGN = f"Demo: {CANDIDATE} vs {BASELINE}"
WORKBENCH = f"Demo workbench: {CANDIDATE} vs {BASELINE}"
SIMULATED_RATER = "simulated-rater-{n}"
GUIDELINES = """\
You will see a customer's message and two replies written by support assistants.

- Pick the reply you would rather **send to the customer**: correct, specific, kind, actionable.
- **Tie** when both are equally good; **Both bad** when you would send neither.
- Keys: `1` / `←` left, `2` / `→` right, `3` tie, `4` both bad, `s` skip, `?` these guidelines.
"""
WORKBENCH_GUIDELINES = """\
Each customer conversation comes with 4 suggested replies. Pick the one you would send (keys
`1`-`4`), edit it if it needs it, and send it with Ctrl+Enter; `n` when none is usable.
"""
# The bundled prompts come grouped by label; each campaign takes them spread over the file (so
# every label is in it), the pairwise campaign from every third row, the workbench from others.
STRIDE, PAIRWISE_OFFSET, WORKBENCH_OFFSET, LABELING_OFFSET = 3, 0, 1, 2


class Command(BaseCommand):
    help = (
        "Load the demo: users, prompts, tiny models built here, generated answers, a pairwise "
        "and a workbench campaign (and, with --simulate-votes, simulated votes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-suffix", default="-demo-pass", help="Password = username + this."
        )
        parser.add_argument(
            "--prompts", type=int, default=100, help="Prompts in the pairwise campaign."
        )
        parser.add_argument(
            "--conversations", type=int, default=20, help="Conversations queued for the workbench."
        )
        parser.add_argument(
            "--models-out",
            default=None,
            help="Folder of the tiny models (build_demo_models --out).",
        )
        parser.add_argument(
            "--build-set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A build setting passed to build_demo_models --set (e.g. base_steps=60).",
        )
        parser.add_argument(
            "--simulate-votes",
            action="store_true",
            help="Fill the pairwise campaign with SIMULATED votes (labelled as such everywhere).",
        )
        parser.add_argument(
            "--simulate-votes-for",
            metavar="CAMPAIGN",
            help="Only fill this campaign (name or id) with simulated votes; load nothing else.",
        )
        parser.add_argument(
            "--simulated-support",
            type=float,
            default=0.75,
            help="How often simulated raters prefer the candidate in a decisive vote.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the simulated votes.")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the pages will be served."
        )

    # -- output ----------------------------------------------------------------------------

    def step(self, text: str) -> float:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))
        return time.perf_counter()

    def done(self, started: float, text: str = "") -> None:
        self.stdout.write(
            f"    {text + ' ' if text else ''}({time.perf_counter() - started:.1f} s)"
        )

    # -- the demo --------------------------------------------------------------------------

    def handle(self, *args: Any, **options: Any) -> None:
        support = options["simulated_support"]
        if not 0.0 <= support <= 1.0:
            raise CommandError("--simulated-support must be between 0 and 1")
        if options["simulate_votes_for"]:
            try:
                campaign = campaign_get_by_ref(options["simulate_votes_for"])
            except ServiceError as exc:
                raise CommandError(str(exc)) from exc
            self._simulate(campaign, support=support, seed=options["seed"])
            return
        started = time.perf_counter()
        logins = self._users(options["password_suffix"])
        rows = self._prompts()
        self._models(options)
        campaign = self._pairwise(_spread(rows[PAIRWISE_OFFSET::STRIDE], options["prompts"]))
        self._generate(campaign)
        workbench = self._workbench(
            _spread(rows[WORKBENCH_OFFSET::STRIDE], options["conversations"])
        )
        self._labeling(rows)
        if options["simulate_votes"]:
            self._simulate(campaign, support=support, seed=options["seed"])
        self._summary(
            logins, campaign, workbench, options["base_url"], time.perf_counter() - started
        )

    def _users(self, suffix: str) -> list[tuple[str, str, str]]:
        t = self.step("users for every role (rater, agent, expert, pm, admin)")
        logins = []
        for username, role in DEMO_USERS:
            password = username + suffix
            user_create_with_role(username=username, role=role, password=password)
            logins.append((username, role, password))
        self.done(t, f"{len(logins)} users")
        return logins

    def _prompts(self) -> list[dict[str, Any]]:
        path = demo_prompts_path()
        t = self.step(f"bundled customer-service prompts ({path.name}), with their data source")
        if not DataSource.objects.filter(name=DEMO_SOURCE).exists():
            data_source_create(
                name=DEMO_SOURCE,
                kind=DataSource.Kind.EXPERT,
                owner="evalhub demo",
                licence="Written for the evalhub demo; free to use.",
                quality_grade=DataSource.Grade.B,
                description="Customer-service questions with a curt and a warm reference reply.",
            )
        call_command(
            "import_prompts",
            str(path),
            "--no-progress",
            "--source",
            DEMO_SOURCE,
            stdout=_Quiet(),
            stderr=_Quiet(),
        )
        self.done(t, f"{Prompt.objects.count()} prompts stored")
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _labeling(self, rows: list[dict[str, Any]]) -> None:
        """A small open labeling task (which scenario is this message?) for the raters, through
        the labeling CLI (feedback sits below labeling and never imports it)."""
        t = self.step("a labeling task: which scenario is each message? (raters, 2 labels each)")
        if apps.get_model("labeling", "LabelingTask").objects.filter(name=LABELING_TASK).exists():
            self.done(t, "already there")
            return
        chosen = _spread(rows[LABELING_OFFSET::STRIDE], 30)
        ids = Prompt.objects.filter(
            external_id__in=[row["external_id"] for row in chosen]
        ).values_list("pk", flat=True)
        names = sorted({label for row in rows for label in row.get("labels", [])})
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join(str(pk) for pk in ids))
        try:
            argv = ["create", LABELING_TASK, "--items-kind", "prompt", "--question", "labels"]
            for name in names:
                argv += ["--label", name]
            argv += ["--audience", "user", "--k", "2", "--items", handle.name, "--open"]
            call_command("labeling_task", *argv, stdout=_Quiet(), stderr=_Quiet())
        finally:
            Path(handle.name).unlink()
        self.done(t, f"{len(ids)} prompts, answers: {', '.join(names)}")

    def _models(self, options: dict[str, Any]) -> None:
        t = self.step(
            f"tiny demo models, built on this CPU: {BASELINE} (curt base) and "
            f"{CANDIDATE} (LoRA adapter, warm replies); about a minute the first time"
        )
        argv = ["--out", options["models_out"]] if options["models_out"] else []
        for pair in options["build_set"]:
            argv += ["--set", pair]
        call_command("build_demo_models", *argv, stdout=_Indented(self.stdout))
        self.done(t)

    def _pairwise(self, rows: list[dict[str, Any]]) -> Campaign:
        t = self.step(f"a pairwise campaign: {CANDIDATE} (candidate) vs {BASELINE} (baseline)")
        campaign = Campaign.objects.filter(name=CAMPAIGN).first()
        if campaign is None:
            campaign = campaign_create(
                name=CAMPAIGN,
                rater_title="Customer-service replies",
                baseline=ModelVersion.objects.get(name=BASELINE),
                candidate=ModelVersion.objects.get(name=CANDIDATE),
                prompts=Prompt.objects.filter(external_id__in=[r["external_id"] for r in rows]),
                votes_per_prompt=3,
                guidelines=GUIDELINES,
            )
        self.done(t, f"campaign {campaign.pk}: {campaign.prompts.count()} prompts, 3 votes each")
        return campaign

    def _generate(self, campaign: Campaign) -> None:
        missing = len(campaign_outputs_missing(campaign=campaign))
        t = self.step(
            f"generating baseline and candidate answers with the local backend ({missing} missing)"
        )
        if missing:
            call_command("generate", str(campaign.pk), "--inline", stdout=_Indented(self.stdout))
        campaign.refresh_from_db()
        if campaign.status != Campaign.Status.OPEN:
            campaign_open(campaign=campaign)
            campaign.refresh_from_db()
        self.done(t, f"campaign {campaign.pk} {campaign.status}: "
                  f"{campaign.comparisons.count()} comparisons")  # fmt: skip

    def _workbench(self, rows: list[dict[str, Any]]) -> Campaign:
        from feedback.services.conversations import ConversationIn, conversations_import

        t = self.step("a 2+2 workbench campaign with customer conversations for the agent")
        campaign = Campaign.objects.filter(name=WORKBENCH).first()
        if campaign is None:
            campaign = campaign_create(
                name=WORKBENCH,
                kind=Campaign.Kind.WORKBENCH,
                rater_title="Customer inbox",
                baseline=ModelVersion.objects.get(name=BASELINE),
                candidate=ModelVersion.objects.get(name=CANDIDATE),
                guidelines=WORKBENCH_GUIDELINES,
            )
        if campaign.status != Campaign.Status.OPEN:
            campaign_open(campaign=campaign)
        records = [
            (
                line,
                ConversationIn(
                    # When a prompt has an input, its instruction is a task ("Reply to the
                    # customer below."): the customer's own words are the input.
                    messages=[{"role": "customer", "text": row.get("input") or row["instruction"]}],
                    external_id=f"demo-{row['external_id']}",
                    channel="email" if row.get("input") else "chat",
                    subject=f"{row['labels'][0].capitalize()} question",
                    system=row.get("system", ""),
                ),
            )
            for line, row in enumerate(rows, start=1)
        ]
        summary = conversations_import(campaign=campaign, records=records)
        if summary.errors:
            raise CommandError(f"demo conversations rejected: {summary.errors[:3]}")
        self.done(
            t,
            f"campaign {campaign.pk}: {summary.created} conversations queued "
            f"({summary.unchanged} already there)",
        )
        return campaign

    def _simulate(self, campaign: Campaign, *, support: float, seed: int) -> None:
        n_raters = max(1, campaign.votes_per_prompt - 1)
        t = self.step(
            f"SIMULATED votes on campaign {campaign.pk} by {n_raters} simulated raters "
            f"(candidate preferred {support:.0%} of decisive votes; one slot per comparison "
            "left for you)"
        )
        if campaign.kind != Campaign.Kind.PAIRWISE or campaign.status != Campaign.Status.OPEN:
            raise CommandError(f"campaign {campaign.pk} is not an open pairwise campaign")
        cast = simulate_votes(campaign, n_raters=n_raters, support=support, seed=seed)
        total = Vote.objects.filter(campaign=campaign, is_simulated=True).count()
        self.done(t, f"{cast} simulated votes cast, {total} in the campaign")

    def _summary(
        self,
        logins: list[tuple[str, str, str]],
        campaign: Campaign,
        workbench: Campaign,
        base_url: str,
        seconds: float,
    ) -> None:
        url = base_url.rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"\nDemo ready in {seconds:.0f} s."))
        self.stdout.write("Logins (username / password / role):")
        for username, role, password in logins:
            self.stdout.write(f"    {username:<8} {password:<20} {role}")
        self.stdout.write("Pages:")
        for path, what in (
            ("/rate/", "rate blind A/B pairs (rater1-3): keys 1 2 3 4"),
            ("/workbench/", "the 2+2 agent workbench (agent)"),
            (f"/dashboard/{campaign.pk}/", "support rate, interval, verdict (pm)"),
            ("/dashboard/", "every campaign (pm)"),
            (f"/campaigns/{campaign.pk}/", "the campaign: answers, generation job (pm)"),
            ("/jobs/", "background jobs: generation, exports, training (pm)"),
            ("/training/", "preference pairs, datasets, training runs (pm)"),
            ("/data/", "data sources, label taxonomy, results by label (pm)"),
            ("/labeling/", "labeling tasks, review, spot-checks (expert; manage as pm)"),
            ("/assist/", "the AI judge and augmentation, marked as AI (pm)"),
            ("/admin/", "everything (admin)"),
            ("/api/docs/", "the REST API"),
        ):
            self.stdout.write(f"    {url + path:<44} {what}")
        simulated = Vote.objects.filter(campaign=campaign, is_simulated=True).count()
        self.stdout.write(
            f"Pairwise campaign {campaign.pk}, workbench campaign {workbench.pk}"
            + (f"; {simulated} simulated votes (labelled on the dashboard)." if simulated else ".")
        )


def _spread(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` rows taken evenly over ``rows`` (all of them when there are fewer)."""
    if n >= len(rows):
        return rows
    return [rows[i * len(rows) // n] for i in range(max(0, n))]


def simulate_votes(campaign: Campaign, *, n_raters: int, support: float, seed: int) -> int:
    """Simulated raters vote through the real rating service until none is served anything.

    Each prompt gets its own chance that the candidate wins a decisive vote (a beta around
    ``support``), so raters agree more on some prompts than on others; about 8% of votes are ties
    and 3% both bad; 6% of the time a rater just picks the left answer (position noise); two
    answers with the same text are always a tie. Every vote is stored with ``is_simulated=True``
    in the same transaction that records it. Returns the number of votes cast (0 when the
    campaign is already full for these raters).
    """
    rng = random.Random(f"{seed}:{campaign.pk}")
    strength = 10.0
    per_prompt: dict[int, float] = {}
    cast = 0
    for n in range(1, n_raters + 1):
        rater = user_create_with_role(username=SIMULATED_RATER.format(n=n), role="rater").user
        while True:
            now = timezone.now()
            served_at = now - timedelta(seconds=rng.uniform(6.0, 40.0))
            assignment = assignment_next(campaign=campaign, rater=rater, now=served_at)
            if assignment is None:
                break
            prompt_id = assignment.comparison.prompt_id
            if prompt_id not in per_prompt:
                alpha = max(support * strength, 0.01)
                per_prompt[prompt_id] = rng.betavariate(alpha, max(strength - alpha, 0.01))
            comparison = assignment.comparison
            if comparison.candidate_output.text == comparison.baseline_output.text:
                choice = Choice.TIE  # the same words on both sides: no rater could prefer one
            else:
                choice = _simulated_choice(rng, per_prompt[prompt_id], assignment.candidate_side)
            vote_record(
                rater=rater,
                token=assignment.token,
                choice=choice,
                channel="simulated",
                is_simulated=True,
                now=now,
            )
            cast += 1
    return cast


def _simulated_choice(rng: random.Random, p_candidate: float, candidate_side: str) -> str:
    draw = rng.random()
    if draw < 0.06:
        return Choice.LEFT  # position noise: a hurried rater takes the left answer
    if draw < 0.14:
        return Choice.TIE
    if draw < 0.17:
        return Choice.BOTH_BAD
    outcome = Outcome.CANDIDATE if rng.random() < p_candidate else Outcome.BASELINE
    if (outcome == Outcome.CANDIDATE) == (candidate_side == Side.LEFT):
        return Choice.LEFT
    return Choice.RIGHT


class _Quiet:
    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


class _Indented:
    """Another command's output, indented under the demo's step."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line.strip():
                self.out.write(f"    {line}")

    def flush(self) -> None:
        pass
