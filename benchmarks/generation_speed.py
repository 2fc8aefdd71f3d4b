"""Generation throughput: OpenAI-compatible backend vs the ideal, and the local tiny model.

1. 200 prompts through ``OpenAICompatBackend`` against the loopback server with 200 ms of
   simulated latency per request at concurrency C: outputs/s against the ideal C / latency
   (the goal is within 20%).
2. The local transformers + peft backend on the tiny demo models (built into a temporary folder
   unless ``--models-dir`` points at a ``build_demo_models`` output): outputs/s and tokens/s,
   greedy batched and sampled, for the base and the adapter.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generation_speed.py [--concurrency 16]

Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from evalhub.generation import GenerationRequest, GenerationResult, SamplingParams
from evalhub.generation.corpus import load_demo_prompts
from evalhub.generation.openai_compat import OpenAICompatBackend
from evalhub.generation.testing_server import LoopbackOpenAIServer


def bench_openai(n_prompts: int, concurrency: int, latency_s: float) -> None:
    prompts = load_demo_prompts()
    requests = [
        GenerationRequest(
            f"r{i}",
            prompts[i % len(prompts)].messages(),
            "tiny-base" if i % 2 else "tiny-warm",
            SamplingParams(temperature=0.7, seed=i, max_tokens=128),
        )
        for i in range(n_prompts)
    ]
    with (
        LoopbackOpenAIServer(models=["tiny-base", "tiny-warm"], latency_s=latency_s) as server,
        OpenAICompatBackend(server.base_url, max_concurrency=concurrency) as backend,
    ):
        backend.list_models()  # open the client before timing
        started = time.perf_counter()
        results = backend.generate(requests)
        elapsed = time.perf_counter() - started
        peak = server.max_in_flight
    failed = sum(not r.ok for r in results)
    rate, ideal = n_prompts / elapsed, concurrency / latency_s
    print(f"OpenAI-compatible backend, loopback server, {latency_s * 1000:.0f} ms per request")
    print(f"  {n_prompts} prompts at concurrency {concurrency}: {elapsed:.2f} s, {failed} failed")
    print(f"  {rate:.1f} outputs/s vs ideal {ideal:.1f} ({rate / ideal:.1%} of ideal)")
    print(f"  server saw at most {peak} requests in flight")


def bench_local(models_dir: Path | None, n_prompts: int, threads: int) -> None:
    import torch

    from evalhub.generation.demo_models import DEMO_ADAPTER_NAME, DEMO_BASE_NAME
    from evalhub.generation.local import LocalBackend

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as scratch:
        if models_dir is None:
            from evalhub.generation.demo_models import build_demo_models

            started = time.perf_counter()
            paths = build_demo_models(Path(scratch), seed=0)
            print(f"built demo models in {time.perf_counter() - started:.1f} s ({threads} thread)")
            base, adapter = paths["base"], paths["adapter"]
        else:
            base, adapter = models_dir / "base", models_dir / "adapters" / DEMO_ADAPTER_NAME
        backend = LocalBackend(
            base, base_name=DEMO_BASE_NAME, adapters={DEMO_ADAPTER_NAME: adapter}, device="cpu"
        )
        started = time.perf_counter()
        backend.load()
        print(f"local backend ({threads} thread): loaded in {time.perf_counter() - started:.2f} s")
        prompts = load_demo_prompts()[:n_prompts]
        for label, params in (
            ("greedy, batched by 16", SamplingParams(temperature=0, max_tokens=96)),
            ("sampled, n=2, one prompt at a time", SamplingParams(seed=1, n=2, max_tokens=96)),
        ):
            for model in (DEMO_BASE_NAME, DEMO_ADAPTER_NAME):
                requests = [
                    GenerationRequest(f"{p.external_id}", p.messages(), model, params)
                    for p in prompts
                ]
                started = time.perf_counter()
                results = backend.generate(requests)
                _report(label, model, results, time.perf_counter() - started)
        samples = backend.generate(
            [
                GenerationRequest(f"{m}-{p.external_id}", p.messages(), m, SamplingParams(0))
                for p in prompts[:2]
                for m in (DEMO_BASE_NAME, DEMO_ADAPTER_NAME)
            ]
        )
        print("sample answers (greedy):")
        for result in samples:
            print(f"  {result.request_id}: {result.completions[0].text}")


def _report(label: str, model: str, results: list[GenerationResult], elapsed: float) -> None:
    outputs = sum(len(r.completions) for r in results)
    tokens = sum(c.completion_tokens for r in results for c in r.completions)
    errors = [r.error for r in results if not r.ok]
    print(
        f"  {model:>14} {label}: {outputs} outputs in {elapsed:.2f} s = "
        f"{outputs / elapsed:.1f} outputs/s, {tokens / elapsed:.0f} tokens/s"
        + (f", {len(errors)} errors: {errors[0]}" if errors else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--models-dir", type=Path, help="output of build_demo_models")
    parser.add_argument("--local-prompts", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    bench_openai(args.prompts, args.concurrency, args.latency)
    if not args.skip_local:
        bench_local(args.models_dir, args.local_prompts, args.threads)


if __name__ == "__main__":
    main()
