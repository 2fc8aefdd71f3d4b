"""Per-source figures and per-label results on a million votes (PostgreSQL).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_figures_speed.py [--votes 1000000]
        [--prompts 100000] [--repeat 3] [--keep] [--reuse]

Loads one synthetic campaign into a scratch database ``evalhub_data_bench`` (dropped and
recreated): --prompts prompts, 4 data sources (a quarter of the prompts has none), 20 labels with
1-3 per prompt, --votes pairwise votes (``benchmarks/report_speed.synthetic_votes``), then builds
the preference pairs with the real builder (``pairs_build``, which also stamps each pair with its
prompt's source), rejects 5% of them in review and freezes a dataset version of the rest by
direct insert (the freeze itself is benchmarked elsewhere). Then measures, best of --repeat:

* ``source_figures()`` (volume, agreement, dedup and review survival, pair support rate);
* ``label_results(campaign=...)`` (usable pairs, dataset splits, votes, agreement, support);

and prints one JSON object with the timings and the number of queries each took.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "evalhub_data_bench"


def _setup(*, fresh: bool) -> None:
    import psycopg

    if fresh:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB}")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalhub.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load(n_votes: int, n_prompts: int) -> int:
    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from benchmarks.report_speed import (
        N_LABELS,
        N_RATERS,
        OUTCOMES,
        SEED,
        _copy,
        prompt_labels,
        synthetic_votes,
    )
    from evalhub.models import Campaign, DataSource, Label, ModelVersion

    base = ModelVersion.objects.create(name="bench-base")
    cand = ModelVersion.objects.create(name="bench-ft", parent=base, method="lora")
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-rater-{i}", password="!") for i in range(N_RATERS)]
    )
    user_ids = np.array([u.pk for u in users])
    label_ids = np.array(
        [
            lb.pk
            for lb in Label.objects.bulk_create(
                [Label(name=f"label-{i:02d}") for i in range(N_LABELS)]
            )
        ]
    )
    sources = [DataSource.objects.create(name=f"source-{i}", kind="online") for i in range(4)]
    source_of = np.array([None] + [s.pk for s in sources], dtype=object)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="bench data", baseline=base, candidate=cand, status="open",
        votes_per_prompt=n_votes // n_prompts,
    )  # fmt: skip
    ids = np.arange(1, n_prompts + 1)
    _copy("evalhub_prompt", ["id", "instruction", "input", "system", "history", "reference", "source",
                             "external_id", "content_hash", "split", "origin", "data_source_id", "created_at"],
          pd.DataFrame({"id": ids, "instruction": [f"Question {i}" for i in ids], "input": "", "system": "",
                        "history": "[]", "reference": "", "source": "bench", "external_id": None,
                        "content_hash": [f"{i:064d}" for i in ids], "split": "unassigned",
                        "origin": "original", "data_source_id": pd.array(source_of[ids % 5], dtype="Int64"),
                        "created_at": now}))  # fmt: skip
    _copy("evalhub_campaign_prompts", ["campaign_id", "prompt_id"],
          pd.DataFrame({"campaign_id": campaign.pk, "prompt_id": ids}))  # fmt: skip
    for offset, model in ((0, base), (1, cand)):
        _copy("evalhub_output", ["id", "prompt_id", "model_version_id", "text", "sample_index", "params",
                                 "params_hash", "finish_reason", "origin", "created_at"],
              pd.DataFrame({"id": ids * 2 + offset, "prompt_id": ids, "model_version_id": model.pk,
                            "text": [f"answer {offset} {i}" for i in ids], "sample_index": 0, "params": "{}",
                            "params_hash": "bench", "finish_reason": "", "origin": "imported",
                            "created_at": now}))  # fmt: skip
    _copy("evalhub_comparison", ["id", "public_id", "campaign_id", "prompt_id", "baseline_output_id",
                                 "candidate_output_id", "is_gold", "gold_kind", "gold_outcome", "vote_count",
                                 "load", "served_count", "side_seed", "shuffle_key", "created_at"],
          pd.DataFrame({"id": ids, "public_id": [f"{i:032x}" for i in ids], "campaign_id": campaign.pk,
                        "prompt_id": ids, "baseline_output_id": ids * 2, "candidate_output_id": ids * 2 + 1,
                        "is_gold": False, "gold_kind": "", "gold_outcome": "", "vote_count": 0, "load": 0,
                        "served_count": 0, "side_seed": 0, "shuffle_key": 0, "created_at": now}))  # fmt: skip
    link_prompt, link_label = prompt_labels(n_prompts)
    _copy("evalhub_prompt_labels", ["prompt_id", "label_id"],
          pd.DataFrame({"prompt_id": ids[link_prompt], "label_id": label_ids[link_label]}))  # fmt: skip
    v = synthetic_votes(n_votes, n_prompts, SEED)
    outcome = OUTCOMES[v["outcome"]]
    side = np.where(v["ft_left"], "left", "right")
    other = np.where(v["ft_left"], "right", "left")
    choice = np.where(v["outcome"] == 0, side, np.where(v["outcome"] == 1, other, outcome))
    _copy("evalhub_vote", ["campaign_id", "comparison_id", "prompt_id", "rater_id", "judge", "kind", "channel",
                           "choice", "candidate_side", "outcome", "reason", "time_taken_ms", "idempotency_key",
                           "is_simulated", "created_at"],
          pd.DataFrame({"campaign_id": campaign.pk, "comparison_id": ids[v["prompt"]],
                        "prompt_id": ids[v["prompt"]], "rater_id": user_ids[v["rater"]], "judge": "",
                        "kind": "pairwise", "channel": "rating", "choice": choice, "candidate_side": side,
                        "outcome": outcome, "reason": "", "time_taken_ms": v["time_ms"],
                        "idempotency_key": "", "is_simulated": False, "created_at": now}))  # fmt: skip
    with connection.cursor() as cursor:
        for table in ("evalhub_prompt", "evalhub_output", "evalhub_comparison"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        cursor.execute("VACUUM ANALYZE")
    return campaign.pk


def pairs_and_dataset() -> dict[str, Any]:
    from django.db import connection

    from training.models import DatasetVersion, PreferencePair
    from training.services.pairs import pairs_build

    started = time.perf_counter()
    pairs_build(sources=["pairwise"])
    build_s = time.perf_counter() - started
    with connection.cursor() as cursor:  # 5% rejected in review
        cursor.execute(
            "UPDATE training_preferencepair SET review_status = 'rejected' WHERE id %% 20 = 0", []
        )
    dataset = DatasetVersion.objects.create(name="bench-ds", split_ratios={"train": 0.8})
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO training_datasetitem (dataset_id, pair_id, prompt_id, split, label, "
            "\"group\") SELECT %s, id, prompt_id, CASE WHEN id %% 10 < 8 THEN 'train' WHEN id "
            "%% 10 = 8 THEN 'val' ELSE 'test' END, '', '' FROM training_preferencepair "
            "WHERE review_status <> 'rejected' AND id %% 7 <> 0",
            [dataset.pk],
        )
        cursor.execute("VACUUM ANALYZE")
    return {
        "pairs": PreferencePair.objects.count(),
        "pairs_with_source": PreferencePair.objects.filter(data_source__isnull=False).count(),
        "pairs_build_s": round(build_s, 2),
    }


def best(func: Any, repeat: int) -> tuple[float, int, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, result, queries = [], None, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = func()
            times.append(time.perf_counter() - started)
        queries = len(captured.captured_queries)
    return min(times), queries, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--reuse", action="store_true", help="Measure a kept database again.")
    args = parser.parse_args()
    _setup(fresh=not args.reuse)
    from evalhub.models import Campaign

    if args.reuse:
        campaign_id, loaded = Campaign.objects.get(name="bench data").pk, {"reused": True}
    else:
        t0 = time.perf_counter()
        campaign_id = load(args.votes, args.prompts)
        loaded = {"load_s": round(time.perf_counter() - t0, 1), **pairs_and_dataset()}
    from training.selectors.data_figures import label_results, source_figures

    campaign = Campaign.objects.get(pk=campaign_id)
    src_s, src_q, rows = best(source_figures, args.repeat)
    lab_s, lab_q, labels = best(lambda: label_results(campaign=campaign), args.repeat)
    print(json.dumps({
        "votes": args.votes, "prompts": args.prompts, **loaded,
        "source_figures_s": round(src_s, 3), "source_figures_queries": src_q,
        "label_results_s": round(lab_s, 3), "label_results_queries": lab_q,
        "sources": [(r["name"], r["votes"], r["agreement_alpha"] and round(r["agreement_alpha"], 3),
                     r["pair_support"] and round(r["pair_support"]["support_rate"], 3)) for r in rows],
        "labels": len(labels["labels"]),
    }, indent=1))  # fmt: skip
    if args.keep:
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
