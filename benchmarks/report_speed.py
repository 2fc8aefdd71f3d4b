"""Report speed on a million votes: database aggregation (PostgreSQL, SQLite), statistics, memory,
and a pandas row-resampling bootstrap as the baseline.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/report_speed.py [--votes 1000000]
        [--backends postgres,sqlite] [--pandas-seconds 30] [--repeat 3]

Two synthetic campaigns of --votes votes each, one over 100,000 prompts (10 votes per prompt) and
one over 10,000 prompts (100 per prompt), are written to scratch databases: PostgreSQL
``evalhub_report_bench`` (dropped and recreated) and a temporary SQLite file. Votes come from a
seeded generator (p = 0.7 with a prompt random effect σ = 1 on the logit, 20% ties, 5% both-bad,
random sides, 200 raters, 30 days, 20 labels with 1-3 per prompt), the same votes in both
databases and in the pandas baseline.

Each backend runs in fresh processes (one to load, one to measure, so peak RSS is the report's):

* database aggregation: the per-prompt and per-label grouped queries, and everything the
  report and the dashboard page read (``campaign_counts``);
* statistics: ``report_from_counts`` (headline, 2000-resample prompt-cluster bootstrap, labels,
  channels, agreement; then with the per-rater and per-day tables), no database access;
* the whole ``campaign_report`` (what ``manage.py report`` and the API run);
* memory: tracemalloc peak inside the report call and the measuring process's peak RSS.

Baseline: resample the vote rows with ``DataFrame.sample(frac=1, replace=True)`` and recompute
W/(W+L), as Chatbot Arena's notebooks did until 2024, for at most --pandas-seconds and
extrapolated to R = 2000 (said so in the output). Minimum of --repeat runs everywhere else.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "evalhub_report_bench"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
SQLITE_PATH = Path(tempfile.gettempdir()) / "evalhub_report_bench.sqlite3"
N_RATERS, N_LABELS, N_DAYS, SEED = 200, 20, 30, 12345
OUTCOMES = np.array(["candidate", "baseline", "tie", "both_bad"])


def synthetic_votes(n_votes: int, n_prompts: int, seed: int) -> dict[str, np.ndarray]:
    """Votes spread evenly over prompts; vote k on prompt j comes from rater (k + 7j) mod 200."""
    rng = np.random.default_rng(seed + n_prompts)
    per_prompt = n_votes // n_prompts
    prompt = np.repeat(np.arange(n_prompts), per_prompt)
    k = np.tile(np.arange(per_prompt), n_prompts)
    effect = rng.normal(0.0, 1.0, n_prompts)
    p_win = 1.0 / (1.0 + np.exp(-(np.log(0.7 / 0.3) + effect[prompt])))
    u = rng.random(prompt.size)
    decisive = np.where(rng.random(prompt.size) < p_win, 0, 1)
    outcome = np.where(u < 0.20, 2, np.where(u < 0.25, 3, decisive))
    return {
        "prompt": prompt,
        "outcome": outcome,
        "rater": (k + 7 * prompt) % N_RATERS,
        "ft_left": rng.random(prompt.size) < 0.5,
        "day": rng.integers(0, N_DAYS, prompt.size),
        "seconds": rng.integers(0, 86_400, prompt.size),
        "time_ms": np.minimum(rng.lognormal(np.log(8000), 0.6, prompt.size), 4e6).astype(np.int64),
        "workbench": rng.random(prompt.size) < 0.1,
    }


def prompt_labels(n_prompts: int) -> tuple[np.ndarray, np.ndarray]:
    """(prompt index, label index) links: 1 to 3 labels per prompt."""
    j = np.arange(n_prompts)
    links = [(j, j % N_LABELS), (j[j % 2 == 1], (j[j % 2 == 1] * 7 + 3) % N_LABELS)]
    links.append((j[j % 5 == 0], (j[j % 5 == 0] * 13 + 5) % N_LABELS))
    pairs = np.unique(np.column_stack([np.concatenate([a for a, _ in links]),
                                       np.concatenate([b for _, b in links])]), axis=0)  # fmt: skip
    return pairs[:, 0], pairs[:, 1]


SCENARIOS = {"100k prompts": 100_000, "10k prompts": 10_000}


# --- loading -------------------------------------------------------------------------------


def _copy(table: str, columns: list[str], frame: Any) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany in chunks on SQLite."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            frame.to_csv(
                buffer, index=False, header=False, na_rep="\\N", sep="\t", quoting=csv.QUOTE_NONE
            )
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT text)"
            with cursor.cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
            return
        for column in frame.columns:
            if str(frame[column].dtype).startswith("datetime64"):  # Django's SQLite format
                frame[column] = frame[column].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        cursor.execute("PRAGMA synchronous = OFF")  # a scratch database: no fsync while loading
        columns_as_lists = [
            [None if v is None or v != v else v for v in frame[c].tolist()] for c in frame.columns
        ]
        rows = list(zip(*columns_as_lists, strict=True))
        for start in range(0, len(rows), 100_000):
            cursor.executemany(sql, rows[start : start + 100_000])


def load(n_votes: int) -> dict[str, int]:
    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from evalhub.models import Campaign, Label, ModelVersion

    base = ModelVersion.objects.create(name="bench-base")
    cand = ModelVersion.objects.create(name="bench-ft", parent=base, method="lora")
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-rater-{i}", password="!") for i in range(N_RATERS)]
    )
    user_ids = np.array([u.pk for u in users])
    labels = Label.objects.bulk_create([Label(name=f"label-{i:02d}") for i in range(N_LABELS)])
    label_ids = np.array([label.pk for label in labels])
    now = timezone.now()
    start = now - pd.Timedelta(days=N_DAYS)
    campaign_ids = {}
    next_id = 1
    for name, n_prompts in SCENARIOS.items():
        campaign = Campaign.objects.create(
            name=f"bench {name}",
            baseline=base,
            candidate=cand,
            status="open",
            votes_per_prompt=n_votes // n_prompts,
        )
        campaign_ids[name] = campaign.pk
        ids = np.arange(next_id, next_id + n_prompts)
        next_id += n_prompts
        _copy("evalhub_prompt", ["id", "instruction", "input", "system", "history", "reference", "source",
                                 "external_id", "content_hash", "split", "origin", "created_at"],
              pd.DataFrame({"id": ids, "instruction": [f"Question {i}" for i in ids], "input": "", "system": "",
                            "history": "[]", "reference": "", "source": "bench", "external_id": None,
                            "content_hash": [f"{i:064d}" for i in ids], "split": "unassigned", "origin": "original",
                            "created_at": now}))  # fmt: skip
        _copy("evalhub_campaign_prompts", ["campaign_id", "prompt_id"],
              pd.DataFrame({"campaign_id": campaign.pk, "prompt_id": ids}))  # fmt: skip
        for offset, model in ((0, base), (1, cand)):
            _copy("evalhub_output", ["id", "prompt_id", "model_version_id", "text", "sample_index", "params",
                                     "params_hash", "finish_reason", "origin", "created_at"],
                  pd.DataFrame({"id": ids * 2 + offset, "prompt_id": ids, "model_version_id": model.pk,
                                "text": "answer", "sample_index": 0, "params": "{}", "params_hash": "bench",
                                "finish_reason": "", "origin": "imported", "created_at": now}))  # fmt: skip
        _copy("evalhub_comparison", ["id", "public_id", "campaign_id", "prompt_id", "baseline_output_id",
                                     "candidate_output_id", "is_gold", "gold_kind", "gold_outcome", "vote_count", "load",
                                     "served_count", "side_seed", "shuffle_key", "created_at"],
              pd.DataFrame({"id": ids, "public_id": [f"{i:032x}" for i in ids],
                            "campaign_id": campaign.pk, "prompt_id": ids, "baseline_output_id": ids * 2,
                            "candidate_output_id": ids * 2 + 1, "is_gold": False, "gold_kind": "", "gold_outcome": "",
                            "vote_count": n_votes // n_prompts, "load": n_votes // n_prompts, "served_count": 0,
                            "side_seed": 0, "shuffle_key": 0, "created_at": now}))  # fmt: skip
        link_prompt, link_label = prompt_labels(n_prompts)
        _copy("evalhub_prompt_labels", ["prompt_id", "label_id"],
              pd.DataFrame({"prompt_id": ids[link_prompt], "label_id": label_ids[link_label]}))  # fmt: skip
        v = synthetic_votes(n_votes, n_prompts, SEED)
        outcome = OUTCOMES[v["outcome"]]
        side = np.where(v["ft_left"], "left", "right")
        other = np.where(v["ft_left"], "right", "left")
        choice = np.where(v["outcome"] == 0, side, np.where(v["outcome"] == 1, other, outcome))
        created = start + pd.to_timedelta(v["day"] * 86_400 + v["seconds"], unit="s")
        _copy("evalhub_vote", ["campaign_id", "comparison_id", "prompt_id", "rater_id", "judge", "kind", "channel",
                               "choice", "candidate_side", "outcome", "reason", "time_taken_ms", "idempotency_key",
                               "is_simulated", "created_at"],
              pd.DataFrame({"campaign_id": campaign.pk, "comparison_id": ids[v["prompt"]],
                            "prompt_id": ids[v["prompt"]], "rater_id": user_ids[v["rater"]], "judge": "",
                            "kind": "pairwise", "channel": np.where(v["workbench"], "workbench", "rating"),
                            "choice": choice, "candidate_side": side, "outcome": outcome, "reason": "",
                            "time_taken_ms": v["time_ms"], "idempotency_key": "", "is_simulated": False,
                            "created_at": created}))  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("evalhub_prompt", "evalhub_output", "evalhub_comparison"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    return campaign_ids


# --- measuring -----------------------------------------------------------------------------


def label_group_by(campaign_id: int) -> list[tuple[Any, ...]]:
    """For comparison only: votes grouped by (label, prompt) in SQL through the M2M. The report
    instead gathers the per-prompt counts for each label's prompts (``label_groups``)."""
    from evalhub.selectors.reports import counts as db

    return db._rows(
        db.live_votes([campaign_id])
        .filter(prompt__labels__isnull=False)
        .values_list("prompt__labels", "prompt_id")
        .annotate(**db._outcome_counts())
    )


def best(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return min(times), result


def measure(campaign_ids: dict[str, int], repeat: int) -> dict[str, Any]:
    from django.db import connection

    from evalhub.models import Campaign
    from evalhub.selectors.reports import campaign_report
    from evalhub.selectors.reports import counts as db
    from evalhub.selectors.reports.campaign import campaign_counts, report_from_counts

    out: dict[str, Any] = {"vendor": connection.vendor}
    for name, pk in campaign_ids.items():
        campaign = Campaign.objects.select_related(
            "baseline", "candidate", "candidate__parent"
        ).get(pk=pk)
        row: dict[str, Any] = {}
        row["db_per_prompt_s"], groups = best(lambda pk=pk: db.vote_groups([pk]), repeat)
        row["db_label_links_s"], _ = best(lambda pk=pk: db.prompt_label_links(pk), repeat)
        row["db_label_group_by_s"], _ = best(lambda pk=pk: label_group_by(pk), repeat)
        row["db_report_s"], counts = best(lambda c=campaign: campaign_counts(c), repeat)
        row["db_page_s"], page_counts = best(
            lambda c=campaign: campaign_counts(c, by=("rater", "day")), repeat
        )
        row["stats_report_s"], report = best(
            lambda c=campaign, k=counts: report_from_counts(c, k), repeat
        )
        row["stats_page_s"], _ = best(
            lambda c=campaign, k=page_counts: report_from_counts(c, k), repeat
        )
        row["whole_report_s"], _ = best(lambda c=campaign: campaign_report(c), repeat)
        tracemalloc.start()
        campaign_report(campaign, by=("rater", "day"))
        row["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        row["groups"] = groups.size
        row["n_votes"] = report["n_votes"]
        row["support_rate"] = report["support_rate"]
        row["ci"] = [report["ci_low"], report["ci_high"]]
        row["bootstrap_ci"] = [report["bootstrap_ci_low"], report["bootstrap_ci_high"]]
        row["bootstrap_method"] = report["bootstrap_method"]
        row["design_effect"] = report["design_effect"]
        out[name] = row
    from evalhub.selectors.reports.dashboard import campaign_summaries

    out["dashboard_list_s"], _ = best(campaign_summaries, repeat)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def pandas_baseline(n_votes: int, n_prompts: int, budget_s: float) -> dict[str, Any]:
    """Row-resampling bootstrap of W/(W+L) on a DataFrame of the votes (the pre-2024 Arena way)."""
    import pandas as pd

    v = synthetic_votes(n_votes, n_prompts, SEED)
    frame = pd.DataFrame(
        {"prompt": v["prompt"], "outcome": pd.Categorical.from_codes(v["outcome"], OUTCOMES)}
    )
    rates = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s and len(rates) < 2000:
        sample = frame.sample(frac=1.0, replace=True, random_state=len(rates))
        counts = sample["outcome"].value_counts()
        rates.append(
            counts.get("candidate", 0) / (counts.get("candidate", 0) + counts.get("baseline", 0))
        )
    elapsed = time.perf_counter() - t0
    return {
        "resamples": len(rates),
        "elapsed_s": elapsed,
        "per_2000_s": elapsed / len(rates) * 2000,
        "ci": [float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))],
    }


# --- orchestration -------------------------------------------------------------------------


def worker(backend: str, step: str, n_votes: int, repeat: int) -> None:
    os.environ["DATABASE_URL"] = PG_URL if backend == "postgres" else f"sqlite:///{SQLITE_PATH}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    if step == "load":
        call_command("migrate", verbosity=0)
        print(json.dumps(load(n_votes)))
    else:
        print(json.dumps(measure(json.loads(os.environ["BENCH_CAMPAIGNS"]), repeat)))


def existing_campaigns(backend: str) -> str | None:
    """The campaigns of a kept scratch database (``--reuse``), as the worker's JSON, or None."""
    query = "SELECT name, id FROM evalhub_campaign WHERE name LIKE 'bench %'"
    try:
        if backend == "postgres":
            import psycopg

            with psycopg.connect(PG_URL) as conn:
                rows = conn.execute(query).fetchall()
        else:
            import sqlite3

            if not SQLITE_PATH.exists():
                return None
            with sqlite3.connect(SQLITE_PATH) as conn:
                rows = conn.execute(query).fetchall()
    except Exception:
        return None
    found = {name.removeprefix("bench "): pk for name, pk in rows}
    return json.dumps(found) if set(found) == set(SCENARIOS) else None


def run_backend(backend: str, n_votes: int, repeat: int, reuse: bool) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    flags = ["-S"] if sys.flags.no_site else []  # keep `python -S` (no .pth files) in workers
    args = [
        sys.executable,
        *flags,
        __file__,
        "--votes",
        str(n_votes),
        "--repeat",
        str(repeat),
        "--worker",
        backend,
    ]
    kept = existing_campaigns(backend) if reuse else None
    load_s = 0.0
    if kept is None:
        cleanup(backend)
        if backend == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {BENCH_DB}")
        t0 = time.perf_counter()
        loaded = subprocess.run(
            [*args, "load"], env=env, check=True, capture_output=True, text=True
        )
        load_s = time.perf_counter() - t0
        kept = loaded.stdout.strip().splitlines()[-1]
    env["BENCH_CAMPAIGNS"] = kept
    measured = subprocess.run(
        [*args, "measure"], env=env, check=True, capture_output=True, text=True
    )
    result = json.loads(measured.stdout.strip().splitlines()[-1])
    result["load_s"] = load_s
    return result


def cleanup(backend: str) -> None:
    if backend == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)


def report_table(
    results: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]], n_votes: int
) -> None:
    print(f"\nReport speed, {n_votes:,} votes per campaign (seconds, min of runs)\n")
    header = (f"{'backend':<10} {'campaign':<13} {'groups':>7} {'per prompt':>10} {'label links':>11} "
              f"{'(label SQL)':>11} {'DB report':>9} {'DB page':>8} {'stats':>6} {'stats page':>10} "
              f"{'whole':>6} {'traced MB':>9}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for backend, result in results.items():
        for name in SCENARIOS:
            r = result[name]
            print(f"{backend:<10} {name:<13} {r['groups']:>7,} {r['db_per_prompt_s']:>10.3f} {r['db_label_links_s']:>11.3f} "
                  f"{r['db_label_group_by_s']:>11.3f} {r['db_report_s']:>9.3f} {r['db_page_s']:>8.3f} {r['stats_report_s']:>6.3f} "
                  f"{r['stats_page_s']:>10.3f} {r['whole_report_s']:>6.3f} {r['tracemalloc_peak_mb']:>9.1f}")  # fmt: skip
        loading = (
            f"loading took {result['load_s']:.0f} s" if result["load_s"] else "reused database"
        )
        print(
            f"{'':<10} dashboard list (both campaigns) {result['dashboard_list_s']:.3f} s; "
            f"peak RSS of the measuring process {result['peak_rss_mb']:.0f} MB; {loading}"
        )
    print(
        "\nper prompt: the grouped query behind every report (votes -> per prompt, comparison and\n"
        "channel counts); label links: the (prompt, label) pairs that label_groups gathers those\n"
        "counts over; (label SQL): grouping the votes by label in SQL instead, for comparison (not\n"
        "used); DB report / DB page: every query of `manage.py report` / of the dashboard campaign\n"
        "page (adds rater agreement, time histogram, per day); stats: report_from_counts with the\n"
        "2000-resample prompt-cluster bootstrap, no database; whole: campaign_report end to end;\n"
        "traced MB: tracemalloc peak of one campaign_report(by=rater+day) call.\n"
    )
    any_result = next(iter(results.values()))
    for name in SCENARIOS:
        r, b = any_result[name], baseline[name]
        stats_s = r["stats_report_s"]
        print(f"{name}: support rate {r['support_rate']:.4f}, Wilson(n_eff) CI [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}], "
              f"cluster bootstrap ({r['bootstrap_method']}) [{r['bootstrap_ci'][0]:.4f}, {r['bootstrap_ci'][1]:.4f}], Deff {r['design_effect']:.2f}")  # fmt: skip
        extrapolated = "" if b["resamples"] == 2000 else f" (extrapolated from {b['resamples']})"
        print(f"  pandas row bootstrap: {b['resamples']} resamples in {b['elapsed_s']:.1f} s -> "
              f"{b['per_2000_s']:.0f} s for R = 2000{extrapolated}; its CI [{b['ci'][0]:.4f}, {b['ci'][1]:.4f}] "
              "ignores prompt clustering")  # fmt: skip
        print(
            f"  pandas (R = 2000) / evalhub statistics of the whole report: {b['per_2000_s'] / stats_s:,.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandas-seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch databases.")
    parser.add_argument(
        "--reuse", action="store_true", help="Measure kept scratch databases again (no loading)."
    )
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.votes, args.repeat)
        return
    results = {}
    for backend in args.backends.split(","):
        print(
            f"{backend}: loading {len(SCENARIOS)} x {args.votes:,} votes and measuring ...",
            flush=True,
        )
        try:
            results[backend] = run_backend(backend, args.votes, args.repeat, args.reuse)
        except subprocess.CalledProcessError as exc:
            print(exc.stderr[-3000:], file=sys.stderr)
            raise
        finally:
            if not args.keep:
                cleanup(backend)
    print("pandas baseline ...", flush=True)
    baseline = {
        name: pandas_baseline(args.votes, n_prompts, args.pandas_seconds)
        for name, n_prompts in SCENARIOS.items()
    }
    report_table(results, baseline, args.votes)


if __name__ == "__main__":
    main()
