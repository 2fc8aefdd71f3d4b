"""Many raters voting at once through the real server: gunicorn (several sync workers) on a
scratch PostgreSQL database, driven by an asyncio load generator on 127.0.0.1, with idempotent
retries, dropped connections and skips; then with the database's connections cut mid-load.

The engine is benchmarks/reliability_load.py (run it for longer, bigger figures). Each test is
bounded to about 15 s of load. They need PostgreSQL (EVALHUB_PG_ADMIN_URL, default
postgres://postgres@127.0.0.1:5432/postgres) and skip with the reason when it is unreachable,
whichever database the rest of the suite runs on. The scratch database is dropped after.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks import reliability_load as engine

pytestmark = pytest.mark.reliability
SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "15"))


@pytest.fixture(scope="module")
def template() -> str:
    reason = engine.pg_unavailable_reason()
    if reason:
        pytest.skip(f"needs PostgreSQL for gunicorn + several workers: {reason}")
    return engine.migrated_template()


def _run(template: str, capsys, **kwargs) -> engine.Result:
    # In its own thread: the engine calls asyncio.run(), which refuses to run in a thread whose
    # event loop is busy (Playwright's sync API keeps one in the main thread once a browser test
    # of this session has started Chromium).
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(
            engine.run_scenario,
            database=f"evalhub_reliability_{os.getpid()}",
            template=template,
            raters=20,
            comparisons=300,
            workers=3,
            **kwargs,
        ).result()
    with capsys.disabled():
        print("\n" + result.text)
    return result


def test_many_raters_at_once_lose_nothing_and_count_nothing_twice(template, capsys):
    result = _run(template, capsys, options=engine.LoadOptions(seconds=SECONDS))
    assert not result.problems, "\n".join(result.problems)
    stats, checks = result.stats, result.checks
    assert checks["votes_stored"] == checks["votes_confirmed"] > 50
    assert stats.drops > 0 and stats.replays > 0  # the faults were exercised
    assert not any(isinstance(s, int) and s >= 500 for s in stats.statuses)


def test_database_connections_cut_mid_load_give_503s_then_recover(template, capsys):
    """What a PostgreSQL restart does to the web tier, without restarting the shared server:
    every backend of the scratch database is terminated four times during the load. Requests
    caught in it answer a JSON 503 with Retry-After (or succeed on a fresh connection, thanks
    to CONN_HEALTH_CHECKS); clients retry with the same Idempotency-Key; nothing is lost or
    doubled, and the service answers normally afterwards."""
    result = _run(template, capsys, options=engine.LoadOptions(seconds=SECONDS), outage=True)
    assert not result.problems, "\n".join(result.problems)
    assert result.checks["votes_stored"] == result.checks["votes_confirmed"] > 50
