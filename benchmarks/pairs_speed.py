"""Pairs built per second from a million pairwise votes.

    .venv/bin/python benchmarks/pairs_speed.py [--votes 1000000] [--votes-per-comparison 3]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/evalhub .venv/bin/python benchmarks/pairs_speed.py

Seeds a scratch database (SQLite file /tmp/evalhub-pairs-bench.sqlite3, or the PostgreSQL
database evalhub_pairs_bench on the server DATABASE_URL names; either is recreated) with one
campaign: V/k comparisons, each with its prompt (one label), two outputs and k votes from k raters
with a fixed mix of outcomes (candidate-heavy, some ties, both-bad and split decisions). Then
times ``pairs_build`` twice: the first build (every pair inserted, labels attached) and a rebuild
(every pair upserted unchanged). Prints votes, comparisons, pairs and the rates.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SQLITE_FILE = Path("/tmp/evalhub-pairs-bench.sqlite3")
PG_DB = "evalhub_pairs_bench"
OUTCOMES = ["candidate"] * 5 + ["baseline"] * 2 + ["tie", "both_bad"]


def scratch_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return f"{url.rpartition('/')[0]}/{PG_DB}"
    return f"sqlite:///{SQLITE_FILE}"


def scratch_database() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        base, _, _ = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        return f"{base}/{PG_DB}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{SQLITE_FILE}"


def insert_rows(model: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Raw batched INSERTs: every other column gets its field default, prepared once (the ORM's
    bulk_create would spend most of the seeding time preparing the same values per row)."""
    from django.db import connection

    fixed = {}
    for field in model._meta.concrete_fields:
        if field.name in columns or field.attname in columns or field.primary_key:
            continue
        default = timezone_now() if getattr(field, "auto_now_add", False) else field.get_default()
        fixed[field.column] = field.get_db_prep_save(default, connection)
    names = [model._meta.get_field(c).column for c in columns] + list(fixed)
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, names))}) "
        f"VALUES ({', '.join(['%s'] * len(names))})"
    )
    tail = tuple(fixed.values())
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(sql, [row + tail for row in rows[start : start + 5000]])


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def seed(n_comparisons: int, per_comparison: int, rng: random.Random) -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from evalhub.models import Campaign, Comparison, Label, ModelVersion, Output, Prompt, Vote
    from evalhub.models.prompts import params_hash, prompt_content_hash

    base = ModelVersion.objects.create(name="bench-base")
    cand = ModelVersion.objects.create(name="bench-cand", parent=base, method="lora")
    campaign = Campaign.objects.create(name="bench", baseline=base, candidate=cand, status="open")
    labels = [Label.objects.create(name=f"label-{i}").pk for i in range(6)]
    raters = [
        get_user_model().objects.create(username=f"bench-rater-{k}").pk
        for k in range(per_comparison)
    ]
    empty_params = params_hash({})
    uuid_field = Comparison._meta.get_field("public_id")
    chunk = 50_000
    vote_id = 0
    for start in range(0, n_comparisons, chunk):
        ids = range(start + 1, min(start + chunk, n_comparisons) + 1)
        with transaction.atomic():
            prompts = []
            for i in ids:
                text = f"Customer question {i}: where is order {i * 7 % 100003}?"
                prompts.append((i, text, f"b{i}", prompt_content_hash(instruction=text)))
            insert_rows(Prompt, ["id", "instruction", "external_id", "content_hash"], prompts)
            insert_rows(
                Prompt.labels.through, ["prompt", "label"], [(i, labels[i % 6]) for i in ids]
            )
            outputs = [
                (2 * i - 1 + k, i, model.pk, f"{tone} answer to b{i}.", empty_params)
                for i in ids
                for k, (model, tone) in enumerate(((base, "Curt"), (cand, "A warm, helpful")))
            ]
            insert_rows(Output, ["id", "prompt", "model_version", "text", "params_hash"], outputs)
            comparisons = [
                (i, uuid_field.get_db_prep_save(uuid.uuid4(), connection), campaign.pk, i,
                 2 * i - 1, 2 * i)
                for i in ids
            ]  # fmt: skip
            insert_rows(
                Comparison,
                ["id", "public_id", "campaign", "prompt", "baseline_output", "candidate_output"],
                comparisons,
            )
            votes = []
            for i in ids:
                for k, rater in enumerate(raters):
                    outcome = rng.choice(OUTCOMES)
                    side = "left" if (i + k) % 2 else "right"
                    other = "right" if side == "left" else "left"
                    choice = (
                        outcome
                        if outcome in ("tie", "both_bad")
                        else (side if outcome == "candidate" else other)
                    )
                    vote_id += 1
                    votes.append((vote_id, campaign.pk, i, i, rater, "pairwise", choice, side,
                                  outcome))  # fmt: skip
            insert_rows(
                Vote,
                ["id", "campaign", "comparison", "prompt", "rater", "kind", "choice",
                 "candidate_side", "outcome"],
                votes,
            )  # fmt: skip
        print(f"\rseeded {ids[-1]:,} comparisons", end="", flush=True)
    print()
    return Vote.objects.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--votes-per-comparison", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Keep the seeded votes of the last run; drop its pairs.",
    )
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = scratch_url() if args.reuse else scratch_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from training.models import PairBuild, PreferencePair
    from training.services.pairs import pairs_build

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.reuse:
        PreferencePair.labels.through.objects.all().delete()
        PreferencePair.objects.all().delete()
        PairBuild.objects.all().delete()
        from evalhub.models import Vote

        n_votes = Vote.objects.count()
    else:
        n_votes = seed(
            args.votes // args.votes_per_comparison,
            args.votes_per_comparison,
            random.Random(args.seed),
        )
    what = "clearing old pairs" if args.reuse else "seeding"
    print(f"{what}: {time.perf_counter() - started:.1f} s ({connection.vendor})")

    for label in ("first build", "rebuild"):
        started = time.perf_counter()
        build = pairs_build(sources=["pairwise"])
        seconds = time.perf_counter() - started
        counts = build.counts["pairwise"]
        print(
            f"{label}: {counts['votes']:,} votes on {counts['comparisons']:,} comparisons -> "
            f"{counts['pairs']:,} pairs ({counts['new']:,} new) in {seconds:.2f} s: "
            f"{counts['pairs'] / seconds:,.0f} pairs/s, {counts['votes'] / seconds:,.0f} votes/s"
        )
    assert n_votes == args.votes // args.votes_per_comparison * args.votes_per_comparison


if __name__ == "__main__":
    main()
