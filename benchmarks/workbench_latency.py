"""Workbench latency: from opening a conversation to its 4 suggestions shown.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/workbench_latency.py \
        [--conversations 40] [--latency 0.3] [--browser] [--local] [--models-dir DIR]

1. OpenAI-compatible backend against the loopback server (127.0.0.1) answering every request
   in ``--latency`` seconds (default 0.3): both models are asked at once, so the goal is
   p95 <= 1.3 x latency (asking one model after the other would take 2 x latency).
   Measured in process with Django's test client: ``GET /workbench/c/<id>/`` (the page: it
   claims the conversation, asks both models and, when they answer within
   ``FEEDBACK_WORKBENCH_INLINE_WAIT_S``, holds the 4 suggestions), plus ``POST .../suggestions``
   when they came later, i.e. everything the server does between the click and the suggestions. With
   ``--browser`` it is measured again in headless Chromium against gunicorn (DEBUG off, static
   files collected and served by WhiteNoise with cache headers): ``performance.now()`` of the
   new page (it counts from the start of the navigation) on the first animation frame that lays
   out the 4th suggestion, noted by a script injected before the page's own: request, server,
   response, CSS, layout, to the suggestions on screen.
2. ``--local``: the local transformers + peft backend on the tiny demo models (built into a
   temporary folder unless ``--models-dir`` points at a ``build_demo_models`` output). The base
   and its adapter share one model in memory, so the two models run one after the other there.

Works on a scratch SQLite database (a temporary file, migrated first). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.mkdtemp(prefix="evalhub-wb-bench-"))
os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalhub.settings")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from evalhub.generation.testing_server import LoopbackOpenAIServer  # noqa: E402
from evalhub.models import Campaign, ModelVersion  # noqa: E402
from evalhub.services.campaigns import campaign_create, campaign_open  # noqa: E402
from evalhub.services.users import user_create_with_role  # noqa: E402
from feedback.models import Conversation  # noqa: E402
from feedback.services.conversations import ConversationIn, conversation_push  # noqa: E402

PASSWORD = "bench-pass-1"
NAV_JS = """() => { const n = performance.getEntriesByType('navigation')[0];
  return [n.requestStart, n.responseStart, n.responseEnd, n.domContentLoadedEventEnd].map(Math.round); }"""
# Runs in every page before its own scripts: notes the first frame that lays out the 4th card.
SHOWN_JS = """(() => {
  const check = () => {
    const cards = document.querySelectorAll('.wb-card[data-key]');
    if (cards.length >= 4 && cards[3].getBoundingClientRect().height > 0) {
      window.__shownAt = performance.now();
    } else {
      requestAnimationFrame(check);
    }
  };
  requestAnimationFrame(check);
})();"""
WARM_UP = 3


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    return {"p50": statistics.median(ordered), "p95": at(0.95), "max": ordered[-1]}


def make_campaign(name: str, baseline: ModelVersion, candidate: ModelVersion, n: int) -> Campaign:
    campaign = campaign_create(
        name=name, baseline=baseline, candidate=candidate, kind=Campaign.Kind.WORKBENCH
    )
    campaign_open(campaign=campaign)
    for i in range(n):
        conversation_push(
            campaign=campaign,
            data=ConversationIn(
                external_id=f"{name}-{i}",
                subject=f"Order {i}",
                messages=[
                    {"role": "customer", "text": f"Hello, my order {i} arrived damaged."},
                    {"role": "agent", "text": "I'm sorry! Could you send a photo?"},
                    {"role": "customer", "text": f"Here it is. Order number A-{9000 + i}."},
                ],
            ),
        )
    return campaign


def measure_client(campaign: Campaign, agent: Any) -> list[float]:
    client = Client()
    client.force_login(agent)
    timings = []
    for conversation in Conversation.objects.filter(campaign=campaign).order_by("id"):
        url = f"/workbench/c/{conversation.public_id}/"
        started = time.perf_counter()
        body = client.get(url).content.decode()
        if body.count('class="wb-card"') != 4:  # not ready in a moment: the script's request
            token = body.split('name="token" value="', 1)[1].split('"', 1)[0]
            answer = client.post(
                url + "suggestions", {"token": token}, HTTP_ACCEPT="application/json"
            )
            if answer.status_code != 200 or answer.json()["html"].count('class="wb-card"') != 4:
                raise SystemExit(
                    f"suggestions failed: {answer.status_code} {answer.content[:300]!r}"
                )
        timings.append((time.perf_counter() - started) * 1000)
    return timings[WARM_UP:]


def production_like_env() -> dict[str, str]:
    """Settings for the served run: DEBUG off, static files collected and served by WhiteNoise
    with cache headers (as in production), on the same scratch database."""
    folder = SCRATCH / "settings"
    folder.mkdir(exist_ok=True)
    (folder / "workbench_bench_settings.py").write_text(
        "from evalhub.settings import *  # noqa\n"
        "DEBUG = False\n"
        f"STATIC_ROOT = {str(SCRATCH / 'static')!r}\n"
        "WHITENOISE_USE_FINDERS = False\n"
        "WHITENOISE_MAX_AGE = 3600\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "workbench_bench_settings",
        "FEEDBACK_WORKBENCH_TIMEOUT_S": "10",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
        check=True,
    )  # fmt: skip
    return env


def measure_browser(campaign: Campaign, username: str, latency_s: float) -> list[float] | None:
    chromium = Path("/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("  (browser: Playwright is not installed; skipped)")
        return None
    if not chromium.exists():
        print("  (browser: no /usr/bin/chromium; skipped)")
        return None
    port = 8765
    env = production_like_env()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "evalhub.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "8"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(SCRATCH / "gunicorn.log").open("w"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    ids = list(
        Conversation.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list("public_id", flat=True)
    )  # read before Playwright's event loop runs (the ORM refuses async contexts)
    timings = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.add_init_script(SHOWN_JS)
            for _ in range(300):  # wait for the server (a minute at most)
                try:
                    page.goto(f"{base}/accounts/login/?next=/workbench/")
                    break
                except Exception:
                    time.sleep(0.2)
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.get_by_role("button", name="Sign in").click()
            for public_id in ids:
                page.goto(f"{base}/workbench/c/{public_id}/", wait_until="commit")
                # performance.now() counts from the start of this navigation.
                shown = page.wait_for_function("() => window.__shownAt", timeout=15_000)
                timings.append(float(shown.json_value()))
                if os.environ.get("WB_BENCH_DEBUG"):
                    print(page.evaluate(NAV_JS), round(timings[-1]))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return timings[WARM_UP:]


def report(label: str, timings: list[float], goal_ms: float | None = None) -> None:
    stats = percentiles(timings)
    line = (
        f"  {label}: n={len(timings)}  p50 {stats['p50']:.0f} ms  p95 {stats['p95']:.0f} ms  "
        f"max {stats['max']:.0f} ms"
    )
    if goal_ms is not None:
        verdict = "meets" if stats["p95"] <= goal_ms else "MISSES"
        line += f"  -> {verdict} the goal p95 <= {goal_ms:.0f} ms"
    print(line)


def bench_openai(n: int, latency_s: float, browser: bool) -> None:
    with LoopbackOpenAIServer(models=["bench-base", "bench-warm"], latency_s=latency_s) as server:
        base = ModelVersion.objects.create(
            name="bench-base", backend="openai", endpoint=server.base_url, served_name="bench-base"
        )
        warm = ModelVersion.objects.create(
            name="bench-warm", backend="openai", endpoint=server.base_url,
            served_name="bench-warm", parent=base, method="lora",
        )  # fmt: skip
        agent = user_create_with_role(username="bench-agent", role="agent", password=PASSWORD).user
        goal = 1.3 * latency_s * 1000
        print(f"OpenAI-compatible loopback server, {latency_s * 1000:.0f} ms per request "
              f"(one model after the other would need {2 * latency_s * 1000:.0f} ms):")  # fmt: skip
        campaign = make_campaign("bench-client", base, warm, n + WARM_UP)
        report("server (test client)", measure_client(campaign, agent), goal)
        print(
            f"  most requests in flight at once: {server.max_in_flight} (2 = both models together)"
        )
    if browser:
        # Served run: the loopback server in its own process, so it never waits on this one.
        with loopback_process(latency_s) as url:
            ModelVersion.objects.filter(pk__in=[base.pk, warm.pk]).update(endpoint=url)
            campaign = make_campaign("bench-browser", base, warm, n + WARM_UP)
            timings = measure_browser(campaign, "bench-agent", latency_s)
        if timings:
            report("headless Chromium + gunicorn, open to 4 shown", timings, goal)


@contextlib.contextmanager
def loopback_process(latency_s: float) -> Iterator[str]:
    code = (
        "import sys\n"
        "from evalhub.generation.testing_server import LoopbackOpenAIServer\n"
        f"server = LoopbackOpenAIServer(['bench-base', 'bench-warm'], latency_s={latency_s})\n"
        "print(server.start().base_url, flush=True)\n"
        "sys.stdin.read()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def bench_local(n: int, models_dir: Path | None) -> None:
    from evalhub.generation.demo_models import DEMO_ADAPTER_NAME

    if models_dir is None:
        from evalhub.generation.demo_models import build_demo_models

        print("building the tiny demo models (about a minute)...")
        models_dir = SCRATCH / "demo"
        build_demo_models(models_dir, seed=0)
    base = ModelVersion.objects.create(
        name="tiny-base-bench", backend="local", path=str(models_dir / "base"), max_tokens=64
    )
    warm = ModelVersion.objects.create(
        name="tiny-warm-bench", backend="local", parent=base, method="lora",
        path=str(models_dir / "adapters" / DEMO_ADAPTER_NAME), max_tokens=64,
    )  # fmt: skip
    agent = user_create_with_role(username="bench-local", role="agent").user
    campaign = make_campaign("bench-local", base, warm, n + WARM_UP)
    print(f"local transformers + peft, tiny demo models (CPU, max_tokens 64, "
          f"{os.environ.get('OMP_NUM_THREADS')} thread):")  # fmt: skip
    with override_settings(FEEDBACK_WORKBENCH_TIMEOUT_S=120):
        report("server (test client)", measure_client(campaign, agent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.3, help="loopback seconds per request")
    parser.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    parser.add_argument("--local", action="store_true", help="also the local tiny-model backend")
    parser.add_argument("--local-conversations", type=int, default=10)
    parser.add_argument("--models-dir", type=Path, help="a build_demo_models output folder")
    args = parser.parse_args()
    print(f"scratch database in {SCRATCH}; migrating...")
    try:
        call_command("migrate", verbosity=0)
        bench_openai(args.conversations, args.latency, args.browser)
        if args.local:
            bench_local(args.local_conversations, args.models_dir)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
