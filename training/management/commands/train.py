"""python manage.py train --dataset V --from MODEL --method dpo|sft|reward [--config FILE]
[--set KEY=JSON ...] [--against MODEL] [--name NAME] [--inline | --wait] [--resume RUN]

Starts a training run: a background job that runs ``python -m training.ml train`` (TRL + peft)
on the dataset version's train split (val for evaluation). By default the job is queued for the
worker (``manage.py worker``); ``--wait`` follows it to the end; ``--inline`` runs it here. On
success the adapter is registered as a model version and the follow-up campaign (new version vs
the current best, on the dataset's test prompts) is created with its generation queued.
``--resume RUN`` starts a new run continuing a failed or cancelled one from its last checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import Job
from evalhub.selectors.campaigns import model_version_get_by_name
from training.models import TrainingRun
from training.selectors.datasets import dataset_get_by_ref
from training.selectors.runs import training_run_get_by_ref
from training.services.runs import training_run_resume, training_run_start
from training.services.subprocess_follow import progress_message
from training.tasks import run_training_job


def _settings(o: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if o["config"]:
        try:
            config = json.loads(Path(o["config"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read --config {o['config']}: {exc}") from exc
        if not isinstance(config, dict):
            raise CommandError("--config must hold a JSON object of settings")
        config.pop("method", None)
    for item in o["set"]:
        key, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--set wants KEY=JSON, got {item!r}")
        try:
            config[key.strip()] = json.loads(value)
        except ValueError:
            config[key.strip()] = value
    return config


class Command(ServiceCommand):
    help = "Train a LoRA adapter (DPO, SFT or a reward model) on a dataset version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", help="Dataset version name or id.")
        parser.add_argument("--from", dest="start", help="Model version to start from.")
        parser.add_argument("--method", choices=["dpo", "sft", "reward"], default="dpo")
        parser.add_argument("--config", help="JSON file of settings (see training/ml/config.py).")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                            help="One setting, e.g. --set learning_rate=5e-6 (repeat).")  # fmt: skip
        parser.add_argument("--against", help="Baseline of the follow-up campaign (default: the "
                            "current best of the base's line).")  # fmt: skip
        parser.add_argument("--name", default="", help="Run name (default: model-method-dataset).")
        parser.add_argument("--resume", help="Continue this failed or cancelled run (name or id).")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--inline", action="store_true", help="Run here, in the foreground.")
        mode.add_argument("--wait", action="store_true", help="Queue and follow to the end.")

    def run(self, *args: Any, **o: Any) -> None:
        if o["resume"]:
            run = training_run_resume(run=training_run_get_by_ref(o["resume"]))
        else:
            if not o["dataset"] or not o["start"]:
                raise CommandError("--dataset and --from are required (or --resume RUN)")
            run = training_run_start(
                dataset=dataset_get_by_ref(o["dataset"]),
                start_model=model_version_get_by_name(o["start"]),
                method=o["method"],
                config=_settings(o),
                compare_against=model_version_get_by_name(o["against"]) if o["against"] else None,
                name=o["name"],
            )
        self.stdout.write(
            f"training run {run.name} (id {run.pk}), job {run.job_id}: {run.output_dir}"
        )
        if o["inline"]:
            run = self._inline(run)
        elif o["wait"]:
            run = self._follow(run)
        else:
            self.stdout.write(
                f"queued for the worker (python manage.py worker); follow it at "
                f"/training/runs/{run.pk}/ or GET /api/v1/training/runs/{run.pk}"
            )
            return
        self._report(run)

    def _bar(self, run: TrainingRun) -> Any:
        stream = getattr(self.stderr, "_out", sys.stderr)
        return tqdm(total=0, unit="step", file=stream, desc=run.name[:40], dynamic_ncols=True)

    def _inline(self, run: TrainingRun) -> TrainingRun:
        bar = self._bar(run)

        def on_progress(row: dict[str, Any]) -> None:
            bar.total, bar.n = row["total_steps"], row["step"]
            bar.set_postfix_str(progress_message(row).split(" · ", 1)[-1], refresh=False)
            bar.refresh()

        try:
            run_training_job(run.job_id, on_progress=on_progress)
        finally:
            bar.close()
        run.refresh_from_db()
        return run

    def _follow(self, run: TrainingRun) -> TrainingRun:
        bar = self._bar(run)
        try:
            while True:
                job = Job.objects.get(pk=run.job_id)
                bar.total, bar.n = job.progress_total, job.progress_done
                bar.set_postfix_str(f"{job.state} {job.message}"[:80], refresh=False)
                bar.refresh()
                if job.is_finished:
                    break
                time.sleep(1.0)
        finally:
            bar.close()
        run.refresh_from_db()
        return run

    def _report(self, run: TrainingRun) -> None:
        job = Job.objects.get(pk=run.job_id)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"training run {run.name} {job.state}: {job.error or job.message}")
        result = run.result
        first, last = result.get("first", {}), result.get("last", {})
        self.stdout.write(
            f"succeeded in {result.get('seconds', 0):.1f} s, {result.get('steps')} steps: "
            f"loss {first.get('loss', float('nan')):.4f} -> {last.get('loss', float('nan')):.4f}"
            + (
                f", reward accuracy {first['reward_accuracy']:.2f} -> {last['reward_accuracy']:.2f}"
                if "reward_accuracy" in last and "reward_accuracy" in first
                else ""
            )
        )
        self.stdout.write(
            f"registered model version {run.produced_model.name} ({run.produced_model.path})"
        )
        follow_up = result.get("follow_up", {})
        if run.follow_up_campaign_id:
            self.stdout.write(
                f"follow-up campaign {follow_up.get('campaign')!r} (id {run.follow_up_campaign_id}) "
                f"on {follow_up.get('prompts')} test prompts; generation job "
                f"{follow_up.get('generation_job_id', follow_up.get('generation'))}"
            )
        elif follow_up.get("skipped"):
            self.stdout.write(f"no follow-up campaign: {follow_up['skipped']}")
