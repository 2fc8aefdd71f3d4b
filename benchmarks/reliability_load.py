"""Reliability under load: many raters voting at once through gunicorn on PostgreSQL.

    .venv/bin/python benchmarks/reliability_load.py [--raters 24] [--seconds 20] [--workers 3]
        [--comparisons 400] [--outage]

A scratch PostgreSQL database (dropped after) is migrated and seeded with an open campaign of N
comparisons (3 votes each) and R raters; gunicorn (sync workers) serves it on 127.0.0.1; an
asyncio load generator drives every rater at once: GET next -> POST vote with an
Idempotency-Key, with on purpose

- retries of a vote that succeeded (must be replayed, never counted twice),
- dropped connections: the vote sent and the socket closed before the answer (sometimes before
  the whole body), then retried with the same key,
- skips (the slot goes back to the pool),
- with ``--outage``: every backend connection of the database terminated several times
  mid-load (``pg_terminate_backend``: what a database restart does to the web tier); requests
  caught in it must answer 503 with the API's JSON error and Retry-After, clients retry.

Then the database is checked: every vote a client saw a 201 for is stored (no lost vote), no
vote is stored that no client was told about, one vote per (comparison, rater), vote counters
equal the votes, no comparison over its cap, candidate position balanced (per comparison and
overall), votes spread evenly (least-voted first), and no 5xx other than the outage's 503s.
Prints the load held (requests/s, votes/s, latency percentiles) and every count checked.

tests/test_reliability_load.py runs the same engine, bounded, as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("EVALHUB_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
VOTES_PER_PROMPT = 3


# -- PostgreSQL scratch databases ------------------------------------------------------------


def pg_unavailable_reason() -> str | None:
    """None when PostgreSQL answers at EVALHUB_PG_ADMIN_URL, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({type(exc).__name__}: {exc})"
    return None


def database_url(name: str) -> str:
    parts = urlsplit(PG_ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_execute(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def create_database(name: str, template: str | None = None) -> str:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return database_url(name)


def drop_database(name: str) -> None:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def terminate_backends(name: str) -> int:
    """What a database restart does to the web tier: every connection to ``name`` is cut."""
    rows = admin_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    return sum(1 for (ok,) in rows if ok)


def migrated_template() -> str:
    """A migrated database to clone scratch databases from (CREATE DATABASE ... TEMPLATE takes
    about a second; migrating takes 10-40 s). Named by a hash of every migration file, created
    once per migration state (under an advisory lock, so concurrent runs build it once) and kept
    as a cache; templates of older migration states are dropped when a new one is built."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    name = f"evalhub_reliability_tpl_{digest.hexdigest()[:12]}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('evalhub_reliability_template'))")
        try:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                building = f"{name}_building_{os.getpid()}"
                create_database(building)
                migrate(database_url(building))
                conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                stale = conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'evalhub_reliability_tpl_%%' "
                    "AND datname <> %s",
                    (name,),
                ).fetchall()
                for (old,) in stale:
                    drop_database(old)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('evalhub_reliability_template'))")
    return name


def server_env(url: str) -> dict[str, str]:
    """Production-like settings: DEBUG off (a real secret), persistent connections with health
    checks (the settings' default for PostgreSQL)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="evalhub.settings",
        DATABASE_URL=url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        LOG_LEVEL="ERROR",
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def migrate(url: str) -> None:
    manage(server_env(url), "migrate", "-v0")


SEED = """
from django.db import connection
from evalhub.models import ModelVersion
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.users import user_create_with_role
base = ModelVersion.objects.create(name="load-base")
cand = ModelVersion.objects.create(name="load-cand", parent=base, method="lora")
campaign = campaign_create(name="load", baseline=base, candidate=cand, votes_per_prompt={votes})
with connection.cursor() as c:
    c.execute('''INSERT INTO evalhub_prompt (instruction, input, system, history, reference, source,
        external_id, content_hash, split, created_at)
        SELECT 'Question ' || g || ': where is my order?', '', '', '[]', '', 'load', 'l' || g,
        md5('q' || g) || md5('x' || g), 'unassigned', now() FROM generate_series(1, %s) g''', [{n}])
    for model_id in (base.id, cand.id):
        c.execute('''INSERT INTO evalhub_output (prompt_id, model_version_id, text, sample_index,
            params, params_hash, finish_reason, origin, created_at)
            SELECT id, %s, 'Answer of model ' || %s || ' to ' || external_id, 0, '{{}}', 'load', '',
            'imported', now() FROM evalhub_prompt''', [model_id, model_id])
    c.execute('''INSERT INTO evalhub_campaign_prompts (campaign_id, prompt_id)
        SELECT %s, id FROM evalhub_prompt''', [campaign.id])
campaign_open(campaign=campaign)
with connection.cursor() as c:
    c.execute("ANALYZE")
print(campaign.id)
for i in range({raters}):
    print(user_create_with_role(username=f"load-rater-{{i}}", role="rater").token)
"""


def seed(url: str, *, comparisons: int, raters: int) -> tuple[int, list[str]]:
    code = SEED.format(votes=VOTES_PER_PROMPT, n=comparisons, raters=raters)
    out = manage(server_env(url), "shell", "-v", "0", "-c", code).split()
    return int(out[0]), out[1:]


# -- gunicorn --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """gunicorn with sync workers on 127.0.0.1 (deploy/gunicorn.conf.py), stopped on exit."""

    def __init__(self, url: str, *, workers: int) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / "var" / f"reliability-gunicorn-{os.getpid()}-{self.port}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_text = ""  # the whole log, kept when the server stops
        env = server_env(url)
        self._log_handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--access-logfile", "/dev/null", "--timeout", "60", "evalhub.wsgi"],
            cwd=ROOT, env=env, stdout=self._log_handle, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/api/schema/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"gunicorn did not answer in {timeout} s: {self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_handle.close()
        self.log_text = self.log.read_text(errors="replace") if self.log.exists() else ""
        self.log.unlink(missing_ok=True)

    def __enter__(self) -> Gunicorn:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the load --------------------------------------------------------------------------------


@dataclass
class LoadOptions:
    seconds: float = 20.0
    retry_share: float = 0.05  # votes sent again with the same key after a 201
    drop_share: float = 0.04  # votes whose connection the client drops before the answer
    skip_share: float = 0.03
    max_attempts: int = 40  # per request, through 503s and dropped connections
    seed: int = 7


@dataclass
class LoadStats:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    confirmed: dict[str, str] = field(default_factory=dict)  # token -> choice, for every 201
    replays: int = 0
    replay_mismatches: int = 0
    drops: int = 0
    skips: int = 0
    unavailable: int = 0  # 503 answers (each with the JSON error and Retry-After)
    bad_unavailable: int = 0  # 503s without the JSON shape or Retry-After
    gave_up: list[str] = field(default_factory=list)  # tokens never confirmed after a drop
    errors: list[str] = field(default_factory=list)  # anything unexpected
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def _raw_vote_request(host: str, token: str, key: str, body: bytes, *, truncate: bool) -> bytes:
    head = (
        f"POST /api/v1/votes HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {token}\r\n"
        f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + (body[: len(body) // 2] if truncate else body)


async def _drop_connection(base_url: str, payload: bytes) -> None:
    """Send (part of) a request and close the socket without reading the answer."""
    parts = urlsplit(base_url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(payload)
    await writer.drain()
    writer.transport.abort()


class Rater:
    def __init__(self, *, index: int, token: str, campaign_id: int, base_url: str,
                 options: LoadOptions, stats: LoadStats) -> None:  # fmt: skip
        self.token, self.campaign_id, self.base_url = token, campaign_id, base_url
        self.options, self.stats = options, stats
        self.rng = random.Random(options.seed * 1000 + index)
        self.name = f"r{index}"

    async def send(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        """One request, retried through 503s and transport errors (same body, same key)."""
        for attempt in range(self.options.max_attempts):
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                self.stats.statuses[f"transport:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            self.stats.requests += 1
            self.stats.latencies.append(time.perf_counter() - started)
            self.stats.statuses[response.status_code] += 1
            if response.status_code != 503:
                return response
            self.stats.unavailable += 1
            body = _json(response)
            if body.get("error", {}).get(
                "code"
            ) != "database_unavailable" or not response.headers.get("Retry-After"):
                self.stats.bad_unavailable += 1
            await asyncio.sleep(0.1 + 0.1 * attempt)  # Retry-After says 5 s; a test is impatient
        return None

    async def run(self, deadline: float) -> None:
        headers = {"Authorization": f"Token {self.token}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30) as client:
            while time.perf_counter() < deadline:
                response = await self.send(
                    client, "GET", f"/api/v1/campaigns/{self.campaign_id}/next"
                )
                if response is None:
                    self.stats.errors.append(f"{self.name}: next never answered")
                    return
                if response.status_code == 204:
                    return  # nothing left for this rater
                if response.status_code != 200:
                    self.stats.errors.append(
                        f"{self.name}: next {response.status_code} {response.text[:200]}"
                    )
                    return
                await self.act(client, response.json()["token"])

    async def act(self, client: httpx.AsyncClient, assignment: str) -> None:
        roll = self.rng.random()
        if roll < self.options.skip_share:
            skipped = await self.send(
                client, "POST", "/api/v1/assignments/skip", json={"token": assignment}
            )
            if skipped is not None and skipped.status_code == 204:
                self.stats.skips += 1
            else:
                self.stats.errors.append(
                    f"{self.name}: skip {getattr(skipped, 'status_code', None)}"
                )
            return
        choice = self.rng.choice(["left", "right", "tie", "both_bad"])
        body = {"token": assignment, "choice": choice, "reason": f"load {self.name}"}
        key = f"{self.name}-{assignment}"
        if roll < self.options.skip_share + self.options.drop_share:
            self.stats.drops += 1
            raw = json.dumps(body).encode()
            host = urlsplit(self.base_url).netloc
            truncate = self.rng.random() < 0.5
            with contextlib.suppress(OSError):
                await _drop_connection(
                    self.base_url, _raw_vote_request(host, self.token, key, raw, truncate=truncate)
                )
        vote = await self.send(
            client, "POST", "/api/v1/votes", json=body, headers={"Idempotency-Key": key}
        )
        if vote is None or vote.status_code != 201:
            status = getattr(vote, "status_code", None)
            self.stats.gave_up.append(assignment)
            self.stats.errors.append(
                f"{self.name}: vote {status} {getattr(vote, 'text', '')[:200]}"
            )
            return
        first = _json(vote)
        self.stats.confirmed[assignment] = choice
        if self.rng.random() < self.options.retry_share:
            again = await self.send(
                client, "POST", "/api/v1/votes", json=body, headers={"Idempotency-Key": key}
            )
            self.stats.replays += 1
            if (
                again is None
                or again.status_code != 201
                or again.headers.get("Idempotent-Replayed") != "true"
                or _json(again) != first
            ):
                self.stats.replay_mismatches += 1


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _drive(raters: list[Rater], seconds: float) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(rater.run(started + seconds) for rater in raters))
    return time.perf_counter() - started


def run_load(base_url: str, campaign_id: int, tokens: list[str], options: LoadOptions) -> LoadStats:
    stats = LoadStats()
    raters = [
        Rater(index=i, token=token, campaign_id=campaign_id, base_url=base_url,
              options=options, stats=stats)
        for i, token in enumerate(tokens)
    ]  # fmt: skip
    stats.elapsed = asyncio.run(_drive(raters, options.seconds))
    return stats


class Outage(threading.Thread):
    """Cuts every connection to the database ``times`` times, ``every`` seconds apart."""

    def __init__(self, database: str, *, start_after: float, every: float, times: int) -> None:
        super().__init__(daemon=True)
        self.database, self.start_after, self.every, self.times = (
            database,
            start_after,
            every,
            times,
        )
        self.terminated: list[int] = []

    def run(self) -> None:
        time.sleep(self.start_after)
        for _ in range(self.times):
            self.terminated.append(terminate_backends(self.database))
            time.sleep(self.every)


# -- the checks ------------------------------------------------------------------------------


def check_database(url: str, campaign_id: int, stats: LoadStats) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:

        def one(sql: str, *params: Any) -> Any:
            return conn.execute(sql, params).fetchone()[0]

        stored = dict(
            conn.execute(
                "SELECT a.token, v.choice FROM evalhub_vote v JOIN evalhub_assignment a "
                "ON a.id = v.assignment_id WHERE v.campaign_id = %s",
                (campaign_id,),
            ).fetchall()
        )
        counts = conn.execute(
            "SELECT vote_count, load FROM evalhub_comparison WHERE campaign_id = %s", (campaign_id,)
        ).fetchall()
        sides = conn.execute(
            "SELECT a.comparison_id, sum((a.candidate_side = 'left')::int), count(*) "
            "FROM evalhub_assignment a JOIN evalhub_comparison c ON c.id = a.comparison_id "
            "WHERE c.campaign_id = %s GROUP BY a.comparison_id",
            (campaign_id,),
        ).fetchall()
        checks: dict[str, Any] = {
            "votes_stored": len(stored),
            "votes_confirmed": len(stats.confirmed),
            "lost": sorted(set(stats.confirmed) - set(stored)),
            "unconfirmed": sorted(set(stored) - set(stats.confirmed)),
            "wrong_choice": sorted(t for t, c in stats.confirmed.items() if stored.get(t, c) != c),
            "double_votes": one(
                "SELECT count(*) FROM (SELECT comparison_id, rater_id FROM evalhub_vote "
                "WHERE campaign_id = %s AND kind = 'pairwise' AND supersedes_id IS NULL "
                "GROUP BY 1, 2 HAVING count(*) > 1) d",
                campaign_id,
            ),
            "counter_mismatches": one(
                "SELECT count(*) FROM evalhub_comparison c WHERE c.campaign_id = %s AND "
                "c.vote_count <> (SELECT count(*) FROM evalhub_vote v WHERE v.comparison_id = c.id)",
                campaign_id,
            ),
            "voted_without_vote": one(
                "SELECT count(*) FROM evalhub_assignment a JOIN evalhub_comparison c ON "
                "c.id = a.comparison_id LEFT JOIN evalhub_vote v ON v.assignment_id = a.id "
                "WHERE c.campaign_id = %s AND a.status = 'voted' AND v.id IS NULL",
                campaign_id,
            ),
            "over_cap": sum(
                1 for votes, load in counts if votes > VOTES_PER_PROMPT or load > VOTES_PER_PROMPT
            ),
            "comparisons": len(counts),
            "vote_spread": (max(v for v, _ in counts) - min(v for v, _ in counts)) if counts else 0,
            "load_spread": (max(n for _, n in counts) - min(n for _, n in counts)) if counts else 0,
            "assignments": sum(n for _, _, n in sides),
            "candidate_left": sum(left for _, left, _ in sides),
            "unbalanced_comparisons": sum(1 for _, left, n in sides if abs(2 * left - n) > 1),
            "idempotency_records": one("SELECT count(*) FROM evalhub_idempotencyrecord"),
        }
    checks["left_share"] = (
        checks["candidate_left"] / checks["assignments"] if checks["assignments"] else 0.5
    )
    return checks


def problems(checks: dict[str, Any], stats: LoadStats, *, outage: bool) -> list[str]:
    found = []
    server_errors = {
        s: n for s, n in stats.statuses.items() if isinstance(s, int) and s >= 500 and s != 503
    }
    if server_errors:
        found.append(f"5xx answers: {server_errors}")
    if stats.unavailable and not outage:
        found.append(f"{stats.unavailable} answers 503 without an outage")
    if stats.bad_unavailable:
        found.append(f"{stats.bad_unavailable} 503s without the JSON error or Retry-After")
    for name in ("lost", "unconfirmed", "wrong_choice"):
        if checks[name]:
            found.append(f"{name}: {len(checks[name])} ({checks[name][:5]})")
    for name in (
        "double_votes",
        "counter_mismatches",
        "voted_without_vote",
        "over_cap",
        "unbalanced_comparisons",
    ):
        if checks[name]:
            found.append(f"{name}: {checks[name]}")
    # Least-loaded first: loads (votes + live reservations) stay within 1 of each other, 2 just
    # after a skip gives a slot back; votes lag their reservations by at most one more.
    if checks["load_spread"] > 2 or checks["vote_spread"] > 3:
        found.append(
            f"work spread unevenly: load max - min = {checks['load_spread']}, "
            f"votes max - min = {checks['vote_spread']}"
        )
    # Overall: within 4 standard deviations of a fair coin or 5 points, whichever is wider (sides
    # alternate per comparison from a random start, so the real spread is far smaller).
    served = checks["assignments"]
    if served and abs(checks["left_share"] - 0.5) > max(0.05, 2 / served**0.5):
        found.append(f"candidate shown left {checks['left_share']:.1%} of {served} times")
    if stats.replay_mismatches:
        found.append(f"{stats.replay_mismatches} retries not replayed identically")
    if stats.errors:
        found.append(f"{len(stats.errors)} client errors, first: {stats.errors[:3]}")
    if not stats.confirmed:
        found.append("no vote was recorded at all")
    return found


def report(
    stats: LoadStats, checks: dict[str, Any], *, raters: int, workers: int, outage: Outage | None
) -> str:
    lines = [
        f"reliability load: {raters} raters at once, gunicorn {workers} sync workers, PostgreSQL",
        f"  held {stats.requests / stats.elapsed:,.1f} requests/s "
        f"({stats.requests:,} requests in {stats.elapsed:.1f} s), "
        f"{len(stats.confirmed) / stats.elapsed:,.1f} votes/s; "
        f"latency p50 {stats.percentile(0.5):.1f} ms, p99 {stats.percentile(0.99):.1f} ms",
        f"  statuses {dict(sorted(stats.statuses.items(), key=str))}",
        f"  idempotent retries {stats.replays} (replayed identically: "
        f"{stats.replays - stats.replay_mismatches}), dropped connections retried {stats.drops}, "
        f"skips {stats.skips}",
    ]
    if outage is not None:
        lines.append(
            f"  database outages {len(outage.terminated)} (connections cut: {outage.terminated}); "
            f"503 answers {stats.unavailable}, all JSON with Retry-After: {stats.bad_unavailable == 0}"
        )
    lines.append(
        f"  checked: votes confirmed {checks['votes_confirmed']:,} = stored {checks['votes_stored']:,}; "
        f"lost {len(checks['lost'])}; stored unconfirmed {len(checks['unconfirmed'])}; "
        f"double votes {checks['double_votes']}; counter mismatches {checks['counter_mismatches']}; "
        f"over cap {checks['over_cap']} of {checks['comparisons']:,} comparisons; "
        f"spread of votes {checks['vote_spread']} and of load {checks['load_spread']}; candidate left {checks['candidate_left']:,}/"
        f"{checks['assignments']:,} ({checks['left_share']:.1%}), unbalanced comparisons "
        f"{checks['unbalanced_comparisons']}"
    )
    return "\n".join(lines)


@dataclass
class Result:
    stats: LoadStats
    checks: dict[str, Any]
    problems: list[str]
    text: str


def run_scenario(
    *, database: str, template: str | None = None, raters: int = 24, comparisons: int = 400,
    workers: int = 3, options: LoadOptions | None = None, outage: bool = False,
    keep_database: bool = False,
) -> Result:  # fmt: skip
    """Create the database (from ``template`` when given, else migrate), seed, serve, load, check."""
    options = options or LoadOptions()
    url = create_database(database, template)
    try:
        if template is None:
            migrate(url)
        campaign_id, tokens = seed(url, comparisons=comparisons, raters=raters)
        with Gunicorn(url, workers=workers) as server:
            cutter = None
            if outage:
                third = options.seconds / 3
                cutter = Outage(database, start_after=third, every=max(1.0, third / 4), times=4)
                cutter.start()
            stats = run_load(server.base_url, campaign_id, tokens, options)
            if cutter is not None:
                cutter.join(timeout=30)
            # Recovered: after the last cut, a fresh request is served normally.
            after = httpx.get(
                f"{server.base_url}/api/v1/campaigns/{campaign_id}/next",
                headers={"Authorization": f"Token {tokens[0]}"},
                timeout=30,
            )
            if after.status_code not in (200, 204):
                stats.errors.append(f"after the load: next answered {after.status_code}")
        checks = check_database(url, campaign_id, stats)
        found = problems(checks, stats, outage=outage)
        if found:
            found.append(f"gunicorn's log ends with:\n{server.log_text[-3000:]}")
        text = report(stats, checks, raters=raters, workers=workers, outage=cutter)
        return Result(stats, checks, found, text)
    finally:
        if not keep_database:
            drop_database(database)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raters", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--comparisons", type=int, default=400)
    parser.add_argument(
        "--outage", action="store_true", help="Cut the database's connections mid-load."
    )
    args = parser.parse_args()
    reason = pg_unavailable_reason()
    if reason:
        raise SystemExit(reason)
    name = f"evalhub_reliability_{os.getpid()}"
    t0 = time.perf_counter()
    result = run_scenario(
        database=name, template=migrated_template(), raters=args.raters, comparisons=args.comparisons, workers=args.workers,
        options=LoadOptions(seconds=args.seconds), outage=args.outage,
    )  # fmt: skip
    print(result.text)
    print(f"  (whole run {time.perf_counter() - t0:.1f} s, scratch database {name} dropped)")
    print("RESULT:", "OK" if not result.problems else "FAILED\n  " + "\n  ".join(result.problems))
    sys.exit(0 if not result.problems else 1)


if __name__ == "__main__":
    main()
