"""Speed of evalhub.stats on a million votes (STATS.md §2.5; DESIGN.md §5 "Speed").

Synthetic campaign from a seeded generator: p = 0.7 on average with a prompt random effect
(σ = 1 on the logit), 20% ties, 5% both-bad, random left/right placement, 500 raters. Times
(minimum of --repeat runs):

* aggregation: raw vote rows -> per-prompt counts with np.bincount (plus per-rater and
  FT-on-left counts for the diagnostics);
* the full report without and with a 2000-resample prompt-cluster bootstrap;
* the bootstrap alone, per method.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stats_speed.py
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from evalhub.stats import aggregate_votes, cluster_bootstrap, support_rate_report


def make_votes(n_votes: int, n_prompts: int, n_raters: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    effect = rng.normal(0.0, 1.0, n_prompts)
    prompt = rng.integers(0, n_prompts, n_votes)
    p_win = 1.0 / (1.0 + np.exp(-(np.log(0.7 / 0.3) + effect[prompt])))
    u = rng.random(n_votes)
    decisive_outcome = np.where(rng.random(n_votes) < p_win, 0, 1)
    outcome = np.where(u < 0.20, 2, np.where(u < 0.25, 3, decisive_outcome))
    return {
        "prompt": prompt,
        "outcome": outcome,
        "rater": rng.integers(0, n_raters, n_votes),
        "ft_left": rng.random(n_votes) < 0.5,
    }


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(n_votes: int, n_prompts: int, repeat: int, seed: int) -> None:
    votes = make_votes(n_votes, n_prompts, 500, seed)

    def aggregate() -> tuple[Any, np.ndarray, np.ndarray]:
        counts = aggregate_votes(votes["prompt"], votes["outcome"], n_prompts=n_prompts)
        decisive = votes["outcome"] < 2
        win = votes["outcome"] == 0
        per_rater = np.bincount(votes["rater"] * 2 + (~win & decisive), weights=decisive)
        left = np.bincount((votes["outcome"] * 2 + votes["ft_left"]).astype(np.int64), minlength=8)
        return counts, per_rater.reshape(-1, 2).astype(np.int64), left

    t_agg, (counts, per_rater, left) = best_of(repeat, aggregate)
    kwargs: dict[str, Any] = {
        "wins_ft_left": int(left[1]),
        "losses_ft_left": int(left[3]),
        "rater_wins": per_rater[:, 0],
        "rater_losses": per_rater[:, 1],
    }
    args = (counts.wins, counts.losses, counts.ties, counts.both_bad)
    t_report, report = best_of(repeat, lambda: support_rate_report(*args, **kwargs))
    t_full, full = best_of(
        repeat,
        lambda: support_rate_report(*args, **kwargs, bootstrap_resamples=2000, rng=seed),
    )
    print(f"\n{n_votes:,} votes over {n_prompts:,} prompts (min of {repeat} runs)")
    print(f"  aggregate (bincount, per prompt/rater/position) {t_agg * 1e3:8.1f} ms")
    print(f"  full report, no bootstrap                       {t_report * 1e3:8.1f} ms")
    print(
        f"  full report + bootstrap R=2000 ({full.bootstrap_method:>6})      {t_full * 1e3:8.1f} ms"
    )
    print(f"  raw votes -> report + bootstrap                 {(t_agg + t_full) * 1e3:8.1f} ms")
    w, n = counts.wins, counts.wins + counts.losses
    methods = ["types", "poisson", "auto"] + (["gather"] if n_prompts <= 20_000 else [])
    for method in methods:
        t_boot, boot = best_of(
            repeat,
            lambda m=method: cluster_bootstrap(w, n, rng=seed, resamples=2000, method=m),
        )
        print(
            f"  bootstrap alone, {method:>7} -> {boot.method:<7} K={boot.n_types:<5}"
            f"       {t_boot * 1e3:8.1f} ms  CI [{boot.ci_low:.4f}, {boot.ci_high:.4f}]"
        )
    print(
        f"  support rate {report.support_rate:.4f}  {report.ci_method} "
        f"[{report.ci_low:.4f}, {report.ci_high:.4f}]  Deff {report.design_effect:.2f}  "
        f"bootstrap [{full.bootstrap_ci_low:.4f}, {full.bootstrap_ci_high:.4f}]  "
        f"verdict {report.verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, nargs="+", default=[100_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}  "
        f"numpy {np.__version__}  cpus {os.cpu_count()}"
    )
    for n_prompts in args.prompts:
        run(args.votes, n_prompts, args.repeat, args.seed)


if __name__ == "__main__":
    main()
