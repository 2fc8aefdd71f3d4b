"""python manage.py judge CAMPAIGN --judge MODEL [--kind pairs|quality] [--limit N] [--one-order]
[--queue] [--approve-as USER] [--publish-pairs]

Asks an LLM judge (any registered model version with a backend) about a campaign's comparisons,
in both orders, here with a progress bar (``--queue`` leaves it to the worker instead), then
prints its figures: judge support rate, position bias, agreement with the human majority
(rate, Cohen's kappa, n). The labels stay unused until a manager approves the run (page, API or
``--approve-as``), which needs the agreement measured on enough human-voted comparisons.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from assist.management.commands._follow import run_inline
from assist.models import JudgeRun
from assist.services.judge import judge_pairs_publish, judge_run_approve, judge_run_create
from assist.tasks import run_judge_job
from evalhub.management.commands._base import ServiceCommand
from evalhub.models import ModelVersion
from evalhub.selectors.campaigns import campaign_get_by_ref


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


class Command(ServiceCommand):
    help = "Run an AI judge (RLAIF) over a campaign: both orders, figures, agreement with people."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="Campaign name or id.")
        parser.add_argument("--judge", required=True, help="The judging model version's name.")
        parser.add_argument("--kind", choices=JudgeRun.Kind.values, default=JudgeRun.Kind.PAIRS)
        parser.add_argument("--limit", type=int, default=None, help="Judge at most N items.")
        parser.add_argument("--one-order", action="store_true", help="Ask A/B only (not B/A).")
        parser.add_argument("--min-agreement-n", type=int, default=None)
        parser.add_argument("--quality-threshold", type=int, default=3)
        parser.add_argument("--queue", action="store_true", help="Queue for the worker; return.")
        parser.add_argument("--approve-as", default="", help="Approve as this user afterwards.")
        parser.add_argument("--publish-pairs", action="store_true",
                            help="Write ai_judge training pairs (needs an approved run).")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def run(self, *args: Any, **o: Any) -> None:
        campaign = campaign_get_by_ref(o["campaign"])
        judge = ModelVersion.objects.filter(name=o["judge"]).first()
        if judge is None:
            raise CommandError(f"No model version named {o['judge']!r}.")
        run = judge_run_create(
            campaign=campaign,
            judge=judge,
            kind=o["kind"],
            both_orders=not o["one_order"],
            limit=o["limit"],
            min_agreement_n=o["min_agreement_n"],
            quality_threshold=o["quality_threshold"],
        )
        if o["queue"]:
            self.stdout.write(
                f"queued judge run {run.pk} (job {run.job_id}); see /assist/judge-runs/{run.pk}/"
            )
            return
        run_inline(self, run.job_id, run_judge_job, unit="item", desc=f"judge {judge.name}")
        run.refresh_from_db()
        if o["approve_as"]:
            user = get_user_model().objects.filter(username=o["approve_as"]).first()
            if user is None or not user.has_perm("evalhub.manage_data"):
                raise CommandError(
                    f"{o['approve_as']!r} is not a user who may approve (pm, admin)."
                )
            run = judge_run_approve(run=run, user=user, note="approved from the command line")
        published = judge_pairs_publish(run=run) if o["publish_pairs"] else None
        self._report(run, published, as_json=o["json"])

    def _report(self, run: JudgeRun, published: dict[str, int] | None, *, as_json: bool) -> None:
        if as_json:
            payload = {"judge_run_id": run.pk, "is_ai": True, "counts": run.counts,
                       "agreement": run.agreement, "approved": run.is_approved,
                       "published": published}  # fmt: skip
            self.stdout.write(json.dumps(payload, indent=2, default=str))
            return
        counts = run.counts
        self.stdout.write(
            f"AI judge run {run.pk} ({run.kind}) [AI labels]: {counts.get('judged', 0)} judged"
        )
        if run.kind == JudgeRun.Kind.QUALITY:
            self.stdout.write(
                f"  scores {counts.get('scores')}; flagged below {run.quality_threshold}: {counts.get('flagged', 0)}"
            )
            return
        rate, position = counts.get("judge_rate") or {}, counts.get("position") or {}
        self.stdout.write(
            f"  outcomes: candidate {counts.get('candidate', 0)}, baseline {counts.get('baseline', 0)}, "
            f"tie {counts.get('tie', 0)}, inconsistent {counts.get('inconsistent', 0)}, unreadable {counts.get('invalid', 0)}\n"
            f"  judge support rate {_pct(rate.get('support_rate'))} [{_pct(rate.get('ci_low'))}, {_pct(rate.get('ci_high'))}]\n"
            f"  position bias: first slot picked {_pct(position.get('first_slot_share'))} of {position.get('decisive', 0)} decisive answers"
        )  # fmt: skip
        agreement = run.agreement or {}
        if agreement.get("n"):
            kappa = agreement.get("kappa")
            self.stdout.write(
                f"  agreement with the human majority {_pct(agreement['rate'])} (n={agreement['n']}), "
                f"kappa {'—' if kappa is None else f'{kappa:.2f}'}; human support rate on them "
                f"{_pct(agreement['human_rate_on_shared']['support_rate'])}"
            )  # fmt: skip
        else:
            self.stdout.write("  no judged comparison has human votes: agreement not measured")
        state = (
            "approved"
            if run.is_approved
            else f"not approved (needs agreement on >= {run.min_agreement_n} human-voted comparisons and a manager)"
        )
        self.stdout.write(f"  labels: {state}")
        if published is not None:
            self.stdout.write(
                f"  ai_judge pairs: {published['new']} new, {published['changed']} changed, {published['retired']} retired"
            )
