"""Running ``python -m training.ml train`` as a child process and following its output.

Each JSON event line the child prints (see ``training.ml.events``) becomes live state: the run's
``progress`` and ``metrics`` and the job's progress bar and message; every other line goes to the
job log (and all output to ``train.log`` in the run folder). The job's cancel flag is checked every
second; on cancel, or if anything here fails, the child's process group is terminated (SIGTERM,
then SIGKILL after ``KILL_AFTER_S``). The child also dies with its parent: on Linux through the
parent-death signal, elsewhere by noticing its parent changed (``TRAINING_ML_PARENT_PID``).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from evalhub.services.jobs import JobRun
from training.ml.events import parse_event
from training.models import TrainingRun

PROGRESS_KEYS = (
    "step", "total_steps", "epoch", "loss", "reward_accuracy", "reward_margin", "learning_rate",
    "grad_norm", "token_accuracy", "eta_s", "elapsed_s",
)  # fmt: skip
METRICS_KEPT = 5000
SAVE_EVERY_S = 0.5
KILL_AFTER_S = 10.0
TAIL_LINES = 30


Progress = Callable[[dict[str, Any]], None]
"""Called with each progress row (step, total_steps, loss, reward_accuracy, ...)."""


class TrainingFailed(Exception):
    """The training process ended without a registered-ready adapter; the message says why."""


def training_command(request: Path) -> list[str]:
    return [sys.executable, "-m", "training.ml", "train", "--config", str(request)]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _terminate(process: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_AFTER_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def follow_training(
    *, run: TrainingRun, job_run: JobRun, request: Path, on_progress: Progress | None = None
) -> dict[str, Any]:
    """Run the training child to its end; returns its ``done`` event or raises TrainingFailed
    (or JobCancelled when a cancel was asked for)."""
    out = Path(run.output_dir)
    env = {
        **os.environ,
        "TRAINING_ML_PARENT_PID": str(os.getpid()),
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.setdefault("HF_HUB_OFFLINE", "1")
    process = subprocess.Popen(
        training_command(request),
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    follower = _Follower(run, job_run, out / "train.log", on_progress)
    job_run.log(f"started training process {process.pid}: {' '.join(training_command(request))}")
    try:
        checked = time.monotonic()
        while True:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                follower.handle(line)
            if time.monotonic() - checked >= 1.0:  # a cancel is seen within a second
                follower.flush()
                job_run.check_cancelled()
                checked = time.monotonic()
        process.wait()
    finally:
        if process.poll() is None:
            job_run.log("stopping the training process")
            _terminate(process)
        follower.flush(final=True)
    if process.returncode != 0 or follower.done is None:
        raise TrainingFailed(follower.failure_message(process.returncode))
    return follower.done


def _pump(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    if stream is not None:
        for line in stream:
            lines.put(line)
    lines.put(None)


class _Follower:
    """Turns the child's lines into run state, job progress and log text."""

    def __init__(
        self, run: TrainingRun, job_run: JobRun, log_path: Path, on_progress: Progress | None
    ) -> None:
        self.run, self.job_run, self.on_progress = run, job_run, on_progress
        self.log_file = log_path.open("a", encoding="utf-8")
        self.pending: list[str] = []
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.progress: dict[str, Any] = dict(run.progress or {})
        self.metrics: list[dict[str, Any]] = list(run.metrics or [])
        self.done: dict[str, Any] | None = None
        self.error: str = ""
        self.last_save = 0.0
        self.dirty = False

    def handle(self, line: str) -> None:
        self.log_file.write(line)
        event = parse_event(line)
        if event is None:
            text = line.rstrip()
            if text:
                self.pending.append(text)
                self.tail.append(text)
            return
        match event["event"]:
            case "start":
                self.progress.update(step=event["step"], total_steps=event["total_steps"])
                if event.get("resumed_from"):
                    self.progress["resumed_from"] = event["resumed_from"]
                    self.pending.append(f"resuming from {event['resumed_from']}")
                self._save(force=True)
                self.job_run.progress(event["step"], event["total_steps"], "training started")
            case "progress":
                row = {k: event[k] for k in PROGRESS_KEYS if event.get(k) is not None}
                self.progress.update(row)
                self.metrics = ([*self.metrics, row])[-METRICS_KEPT:]
                self._save()
                if self.on_progress is not None:
                    self.on_progress(row)
                self.job_run.progress(row["step"], row["total_steps"], progress_message(row))
            case "checkpoint":
                self.progress["last_checkpoint"] = event["path"]
                self.pending.append(f"checkpoint at step {event['step']}: {event['path']}")
                self._save(force=True)
            case "eval":
                evaluation = {k: v for k, v in event.items() if k.startswith("eval_")}
                self.progress["eval"] = evaluation
                self.pending.append(f"evaluation at step {event.get('step')}: {evaluation}")
            case "done":
                self.done = event
            case "error":
                self.error = str(event.get("message", ""))
                self.pending.append(f"error: {self.error}")
                self.tail.append(f"error: {self.error}")

    def _save(self, *, force: bool = False) -> None:
        self.dirty = True
        if force or time.monotonic() - self.last_save >= SAVE_EVERY_S:
            TrainingRun.objects.filter(pk=self.run.pk).update(
                progress=self.progress, metrics=self.metrics
            )
            self.run.progress, self.run.metrics = self.progress, self.metrics
            self.last_save, self.dirty = time.monotonic(), False

    def flush(self, *, final: bool = False) -> None:
        if self.pending:
            self.job_run.log("\n".join(self.pending))
            self.pending = []
        if self.dirty and (final or time.monotonic() - self.last_save >= SAVE_EVERY_S):
            self._save(force=True)
        self.log_file.flush()
        if final:
            self.log_file.close()

    def failure_message(self, returncode: int | None) -> str:
        if returncode is not None and returncode < 0:
            how = f"was killed by signal {-returncode} ({signal.Signals(-returncode).name})"
        elif returncode == 0:
            how = "ended without reporting a finished adapter"
        else:
            how = f"exited with code {returncode}"
        reason = self.error or "\n".join(self.tail) or "no output"
        checkpoint = self.progress.get("last_checkpoint")
        resume = (
            f" Its last checkpoint ({checkpoint}) can be resumed: start a new run with resume."
            if checkpoint
            else ""
        )
        return f"The training process {how}: {reason}.{resume}"


def progress_message(row: dict[str, Any]) -> str:
    parts = [f"step {row['step']}/{row['total_steps']}"]
    if "loss" in row:
        parts.append(f"loss {row['loss']:.4f}")
    if "reward_accuracy" in row:
        parts.append(f"reward acc {row['reward_accuracy']:.2f}")
    if "reward_margin" in row:
        parts.append(f"margin {row['reward_margin']:.3f}")
    if row.get("eta_s") is not None:
        parts.append(f"eta {row['eta_s']:.0f} s")
    return " · ".join(parts)
