"""Figures for docs/ai-assist.md: an AI judge over 200 comparisons (400 requests, both orders)
and the paraphrase of 200 prompts (200 -> 400), through the loopback OpenAI-compatible server
with a simulated model latency, on a scratch database of its own.

    DATABASE_URL=sqlite:////tmp/assist_bench.sqlite3 .venv/bin/python -m assist.benchmark

It refuses to run on the default database (it migrates and fills the one it is given).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def main() -> None:
    if "DATABASE_URL" not in os.environ:
        sys.exit("set DATABASE_URL to a scratch database (it is migrated and filled)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalhub.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0) if _has_tables() else None
    call_command("migrate", verbosity=0)
    _run(latency_s=float(os.environ.get("BENCH_LATENCY_S", "0.05")))


def _has_tables() -> bool:
    from django.db import connection

    return "evalhub_prompt" in connection.introspection.table_names()


def _run(*, latency_s: float) -> None:
    from django.conf import settings

    from assist.services.augment import augmentation_run_create, augmentation_run_execute
    from assist.services.judge import judge_run_create, judge_run_execute
    from evalhub.generation.testing_server import LoopbackOpenAIServer
    from evalhub.models import ModelVersion, Output, Prompt
    from evalhub.services.campaigns import campaign_create, campaign_open

    base = ModelVersion.objects.create(name="bench-base")
    cand = ModelVersion.objects.create(name="bench-cand", parent=base)
    prompts = [Prompt.objects.create(instruction=f"Question {i}: how do I fix problem {i * 7919}?")
               for i in range(200)]  # fmt: skip
    for i, prompt in enumerate(prompts):
        Output.objects.create(prompt=prompt, model_version=base, text=f"Short answer {i}.")
        Output.objects.create(prompt=prompt, model_version=cand, text=f"A longer answer {i}.")
    campaign = campaign_create(name="bench", baseline=base, candidate=cand, prompts=prompts)
    campaign_open(campaign=campaign)

    class JudgingServer(LoopbackOpenAIServer):
        """Answers judge prompts with a verdict (the longer answer wins), the rest as usual."""

        def completion_body(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            status, answer = super().completion_body(body)
            text = body["messages"][-1]["content"]
            if status == 200 and "[ANSWER A]" in text:
                a = text.split("[ANSWER A]\n")[1].split("\n[/ANSWER A]")[0]
                b = text.split("[ANSWER B]\n")[1].split("\n[/ANSWER B]")[0]
                verdict = "tie" if len(a) == len(b) else "A" if len(a) > len(b) else "B"
                answer["choices"][0]["message"]["content"] = verdict
            return status, answer

    with JudgingServer(models=["bench-judge"], latency_s=latency_s) as server:
        judge = ModelVersion.objects.create(
            name="bench-judge", backend="openai", endpoint=server.base_url, temperature=0.7, seed=1
        )
        run = judge_run_create(campaign=campaign, judge=judge)
        started = time.perf_counter()
        run = judge_run_execute(run=run)
        judged = time.perf_counter() - started
        requests = server.chat_requests
        augment = augmentation_run_create(prompts=prompts, method="paraphrase", model_version=judge)
        started = time.perf_counter()
        augment = augmentation_run_execute(run=augment)
        augmented = time.perf_counter() - started
    print(f"database {settings.DATABASES['default']['ENGINE']}, simulated latency {latency_s * 1000:.0f} ms, "
          f"concurrency {settings.EVALHUB_GENERATION_CONCURRENCY}")  # fmt: skip
    print(f"judge: 200 comparisons, {requests} requests in {judged:.2f} s "
          f"({requests / judged:.0f} requests/s); outcomes {run.counts['candidate']} candidate, "
          f"{run.counts['baseline']} baseline, {run.counts['tie']} tie, "
          f"{run.counts['invalid']} unreadable")  # fmt: skip
    print(
        f"augment: 200 prompts -> {Prompt.objects.count()} prompts in {augmented:.2f} s; "
        f"kept {augment.counts['kept']}, near-duplicates {augment.counts['duplicate']}"
    )


if __name__ == "__main__":
    main()
