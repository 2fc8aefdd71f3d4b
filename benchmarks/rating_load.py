"""Rating load benchmark: gunicorn + PostgreSQL on this machine, load generator on loopback.

    .venv/bin/python benchmarks/rating_load.py [--comparisons 100000] [--raters 32] [--seconds 20]

Seeds a campaign with N comparisons in a scratch database (evalhub_bench, dropped and recreated),
starts gunicorn (sync workers) and drives it with R concurrent raters, each looping
GET /api/v1/campaigns/{id}/next -> POST /api/v1/votes with token auth. Then drives a bare Django
view that inserts one row (same server, same concurrency) and prints votes/s, p50/p99 latencies
and the ratio. Finally checks the database: one vote per (comparison, rater), no lost votes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "evalhub_bench"


def run(cmd: list[str], env: dict[str, str]) -> str:
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def prepare_database(
    env: dict[str, str], n_comparisons: int, n_raters: int
) -> tuple[int, list[str]]:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    run([sys.executable, "manage.py", "migrate", "-v0"], env)
    seed = f"""
import secrets
from django.db import connection
from evalhub.models import ModelVersion
from evalhub.services.campaigns import campaign_create
from evalhub.services.users import user_create_with_role
base = ModelVersion.objects.create(name="bench-base")
cand = ModelVersion.objects.create(name="bench-cand", parent=base, method="lora")
campaign = campaign_create(name="bench", baseline=base, candidate=cand, votes_per_prompt=3)
n = {n_comparisons}
with connection.cursor() as c:
    c.execute("CREATE TABLE bench_bare (id bigserial primary key, payload text, created_at timestamptz default now())")
    c.execute('''INSERT INTO evalhub_prompt (instruction, input, system, history, reference, source, external_id,
        content_hash, split, created_at)
        SELECT 'Question ' || g || ': where is my order?', '', '', '[]', '', 'bench', 'b' || g,
        md5('q' || g) || md5('x' || g), 'unassigned', now() FROM generate_series(1, %s) g''', [n])
    for model_id in (base.id, cand.id):
        c.execute('''INSERT INTO evalhub_output (prompt_id, model_version_id, text, sample_index, params,
            params_hash, finish_reason, origin, created_at)
            SELECT id, %s, 'Answer of model ' || %s || ' to ' || external_id, 0, '{{}}', 'bench', '', 'imported', now()
            FROM evalhub_prompt''', [model_id, model_id])
    c.execute('''INSERT INTO evalhub_campaign_prompts (campaign_id, prompt_id) SELECT %s, id FROM evalhub_prompt''',
        [campaign.id])
from evalhub.services.campaigns import campaign_open
campaign_open(campaign=campaign)
with connection.cursor() as c:
    c.execute("ANALYZE")
print(campaign.id)
for i in range({n_raters}):
    print(user_create_with_role(username=f"bench-rater-{{i}}", role="rater").token)
"""
    out = run([sys.executable, "manage.py", "shell", "-v", "0", "-c", seed], env).split()
    return int(out[0]), out[1:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-c",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "/dev/null",
            "evalhub.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/schema/", timeout=2)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def rate_loop(
    base: str, campaign_id: int, token: str, deadline: float, stats: dict, folded: bool
) -> None:
    """One rater: GET next, POST vote (or, folded, POST vote with next=true: one request a vote)."""
    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        assignment = None
        while time.perf_counter() < deadline:
            if assignment is None:
                t0 = time.perf_counter()
                response = await client.get(f"/api/v1/campaigns/{campaign_id}/next")
                stats["next"].append(time.perf_counter() - t0)
                stats["requests"] += 1
                if response.status_code == 204:
                    return
                if response.status_code != 200:
                    stats["errors"].append(response.status_code)
                    continue
                assignment = response.json()
            body = {
                "token": assignment["token"],
                "choice": random.choice(["left", "right", "tie"]),
                "next": folded,
            }
            key = f"{token[:8]}-{body['token']}"
            t1 = time.perf_counter()
            vote = await client.post("/api/v1/votes", json=body, headers={"Idempotency-Key": key})
            stats["vote"].append(time.perf_counter() - t1)
            stats["requests"] += 1
            assignment = vote.json().get("next") if (folded and vote.status_code == 201) else None
            if vote.status_code == 201:
                stats["votes"] += 1
                if random.random() < 0.05:  # a client retry: must replay, not double count
                    retry = await client.post(
                        "/api/v1/votes", json=body, headers={"Idempotency-Key": key}
                    )
                    stats["retries"] += 1
                    if (
                        retry.status_code != 201
                        or retry.headers.get("Idempotent-Replayed") != "true"
                    ):
                        stats["errors"].append(retry.status_code)
            else:
                stats["errors"].append(vote.status_code)
            if folded and vote.status_code == 201 and assignment is None:
                return


async def bare_loop(base: str, deadline: float, stats: dict) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            response = await client.post("/bench/bare", content=b"x")
            stats["bare"].append(time.perf_counter() - t0)
            if response.status_code != 201:
                stats["errors"].append(response.status_code)


async def drive(coros_factory, seconds: float) -> float:
    start = time.perf_counter()
    await asyncio.gather(*coros_factory(start + seconds))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comparisons", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2 + 1)
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    t0 = time.perf_counter()
    campaign_id, tokens = prepare_database(env, args.comparisons, args.raters)
    print(
        f"seeded {args.comparisons:,} comparisons and {args.raters} raters in {time.perf_counter() - t0:.1f} s"
    )

    port = free_port()
    server = start_gunicorn(env, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    results = {}
    errors: list[int] = []
    try:
        asyncio.run(
            drive(
                lambda d: [bare_loop(base, d, {"bare": [], "errors": errors}) for _ in range(2)], 2
            )
        )
        for mode in ("probe", "separate", "folded"):
            stats: dict = {
                "next": [],
                "vote": [],
                "errors": errors,
                "votes": 0,
                "retries": 0,
                "requests": 0,
            }
            folded = mode == "folded"
            # "probe": one rater alone, so latencies are service times, not queueing behind
            # the other raters on this 2-core machine.
            clients = tokens[:1] if mode == "probe" else tokens
            elapsed = asyncio.run(
                drive(
                    lambda d, f=folded, st=stats, c=clients: [
                        rate_loop(base, campaign_id, t, d, st, f) for t in c
                    ],
                    min(args.seconds, 10) if mode == "probe" else args.seconds,
                )
            )
            results[mode] = (stats, elapsed)
        bare: dict = {"bare": [], "errors": errors}
        elapsed_bare = asyncio.run(
            drive(lambda d: [bare_loop(base, d, bare) for _ in range(args.raters)], args.seconds)
        )
        bare_per_s = len(bare["bare"]) / elapsed_bare
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    check = """
from django.db.models import Count
from evalhub.models import Vote, Assignment, Comparison
from django.db import connection
dupes = Vote.objects.values("comparison", "rater").annotate(n=Count("id")).filter(n__gt=1).count()
voted = Assignment.objects.filter(status="voted").count()
over = Comparison.objects.filter(vote_count__gt=3).count()
left = Assignment.objects.filter(candidate_side="left").count()
total = Assignment.objects.count()
print(Vote.objects.count(), voted, dupes, over, left, total)
"""
    votes_db, voted, dupes, over_cap, left, total = map(
        int, run([sys.executable, "manage.py", "shell", "-v", "0", "-c", check], env).split()
    )
    print(
        f"\nrating: {args.raters} concurrent raters, {args.workers} gunicorn workers, {args.comparisons:,} comparisons"
    )
    client_votes = 0
    for mode, (stats, elapsed) in results.items():
        votes_per_s = stats["votes"] / elapsed
        client_votes += stats["votes"]
        label = {
            "probe": "one rater alone: GET next + POST vote (service latency)",
            "separate": f"{args.raters} raters: GET next + POST vote",
            "folded": f"{args.raters} raters: POST vote with next=true",
        }[mode]
        print(f"  [{mode}: {label}]")
        print(
            f"    votes recorded      {stats['votes']:,} in {elapsed:.1f} s = {votes_per_s:,.1f} votes/s "
            f"({stats['requests'] / elapsed:,.1f} API requests/s)"
        )
        if stats["next"]:
            print(
                f"    next-assignment     p50 {pct(stats['next'], 0.5):.1f} ms   p99 {pct(stats['next'], 0.99):.1f} ms"
            )
        print(
            f"    vote                p50 {pct(stats['vote'], 0.5):.1f} ms   p99 {pct(stats['vote'], 0.99):.1f} ms"
        )
        print(f"    idempotent retries  {stats['retries']} (replayed, not counted)")
        print(
            f"    ratio votes/s : bare inserts/s = {votes_per_s / bare_per_s:.2f} (goal >= 0.50); "
            f"API requests/s : bare = {stats['requests'] / elapsed / bare_per_s:.2f}"
        )
    print(f"  [bare insert view, {args.raters} concurrent clients]")
    print(
        f"    inserts             {len(bare['bare']):,} in {elapsed_bare:.1f} s = {bare_per_s:,.1f} /s"
    )
    print(
        f"    latency             p50 {pct(bare['bare'], 0.5):.1f} ms   p99 {pct(bare['bare'], 0.99):.1f} ms"
    )
    print(
        f"checks: votes in db {votes_db:,} (client saw {client_votes:,}); assignments voted {voted:,}; "
        f"double votes {dupes}; comparisons over cap {over_cap}; candidate left {left}/{total}; "
        f"HTTP errors {len(errors)} {sorted(set(errors))}"
    )
    ok = votes_db == client_votes == voted and dupes == 0 and over_cap == 0 and not errors
    print("RESULT:", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
