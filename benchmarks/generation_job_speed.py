"""Generation throughput through the whole Django path: a campaign's generation job.

A campaign of N prompts (2N outputs: baseline and candidate) whose two model versions point at
the loopback OpenAI-compatible server with L seconds of latency per request. The job runs
in-process exactly as the worker runs it (``run_generation_job``: job claim, heartbeat,
progress and cancel checks, idempotent batched inserts, campaign_open at the end). Reports
outputs/s against the ideal of the concurrency limit, C / L (the goal: within 20%), then a
second run over the complete campaign (resuming: nothing to request).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generation_job_speed.py \
        [--prompts 200] [--concurrency 16] [--latency 0.2] [--database sqlite|postgres]

Uses a scratch database: a temporary SQLite file (the embedded default, WAL) or the PostgreSQL
database ``evalhub_genbench`` on 127.0.0.1 (dropped and recreated). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Django is set up at run time, after the scratch database is chosen
    from evalhub.models import Campaign

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "evalhub_genbench"


def configure(database: str, concurrency: int, scratch: Path) -> None:
    if database == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH}")
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    os.environ["EVALHUB_GENERATION_CONCURRENCY"] = str(concurrency)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_campaign(base_url: str, n_prompts: int, name: str) -> Campaign:
    from evalhub.generation.corpus import load_demo_prompts
    from evalhub.models import ModelVersion, Prompt
    from evalhub.services.campaigns import campaign_create

    base = ModelVersion.objects.create(
        name=f"{name}-base",
        backend="openai",
        endpoint=base_url,
        served_name="tiny-base",
        temperature=0.7,
        max_tokens=128,
        seed=1,
    )
    warm = ModelVersion.objects.create(
        name=f"{name}-warm",
        parent=base,
        method="lora",
        backend="openai",
        endpoint=base_url,
        served_name="tiny-warm",
    )
    demo = load_demo_prompts()
    prompts = [
        Prompt.objects.create(
            instruction=f"{demo[i % len(demo)].instruction} ({name} #{i})",
            input=demo[i % len(demo)].input,
            system=demo[i % len(demo)].system,
            external_id=f"{name}-{i}",
        )
        for i in range(n_prompts)
    ]
    return campaign_create(name=name, baseline=base, candidate=warm, prompts=prompts)


def run_job(campaign: Campaign) -> tuple[float, dict[str, Any]]:
    from evalhub.generation_tasks import run_generation_job
    from evalhub.models import Job
    from evalhub.services.generation import campaign_generate_enqueue

    job = campaign_generate_enqueue(campaign=campaign)
    started = time.perf_counter()
    run_generation_job(job.pk)
    elapsed = time.perf_counter() - started
    job = Job.objects.get(pk=job.pk)
    if job.state != "succeeded":
        raise SystemExit(f"job {job.pk} {job.state}: {job.error}")
    return elapsed, job.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        configure(args.database, args.concurrency, Path(scratch))
        import evalhub.generation.openai_compat  # noqa: F401 - import cost is not throughput
        from evalhub.generation.testing_server import LoopbackOpenAIServer
        from evalhub.models import Output
        from evalhub.services.generation import backends_close_all

        with LoopbackOpenAIServer(
            models=["tiny-base", "tiny-warm"], latency_s=args.latency
        ) as server:
            print(
                f"generation job, {args.database}, loopback server at "
                f"{args.latency * 1000:.0f} ms per request, concurrency {args.concurrency}"
            )
            # The first job of a worker process also pays the openai client's lazy imports
            # (its pydantic types, about a second of CPU); later jobs don't.
            for label in ("first job in a fresh process", "next job (steady state)"):
                campaign = seed_campaign(server.base_url, args.prompts, label.split()[0])
                server.reset_stats()
                elapsed, result = run_job(campaign)
                outputs = Output.objects.filter(prompt__campaigns=campaign).count()
                rate, ideal = result["generated"] / elapsed, args.concurrency / args.latency
                print(
                    f"  {label}: {args.prompts}-prompt campaign, {result['generated']} outputs "
                    f"in {elapsed:.2f} s ({outputs} stored, {result['failed']} failed, open: "
                    f"{result['opened']} with {result['comparisons']} comparisons)"
                )
                print(
                    f"    {rate:.1f} outputs/s vs ideal {ideal:.1f} ({rate / ideal:.1%} of ideal);"
                    f" server: {server.chat_requests} requests, at most {server.max_in_flight} "
                    "in flight"
                )
            requests = server.chat_requests
            again, result = run_job(campaign)
            print(
                f"  rerun over the complete campaign: {again:.2f} s, "
                f"{result['generated']} generated, {server.chat_requests - requests} requests"
            )
            backends_close_all()


if __name__ == "__main__":
    main()
