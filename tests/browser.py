"""Real headless Chromium for page tests, shared by every browser test module.

The fixtures (``chromium``, ``new_browser_context``, ``browser_page``) are registered once in
tests/conftest.py; never copy them into a test module (a module copy of the session-scoped
``chromium`` starts a second Playwright, which fails). Use them with::

    from tests.browser import log_in

    pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

    def test_something(live_server, browser_page):
        log_in(browser_page, live_server.url, "rater1", "pw-secret-1")

The browser is Debian's Chromium at /usr/bin/chromium driven by Playwright's sync API (never
``playwright install``: there is no download here). Tests skip with a clear reason when Chromium
or Playwright is missing. pytest-django's ``live_server`` with the sync API needs
``DJANGO_ALLOW_ASYNC_UNSAFE=true`` (tests/conftest.py sets it) and
``django_db(transaction=True)``, because the server thread must see the test's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session (launching costs about a second)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium); "
            "Playwright cannot download its own browser here."
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]')"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_browser_context(chromium: Any) -> Iterator[Callable[..., Any]]:
    """A factory of fresh browser contexts (own cookies, own viewport); all closed after."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        context = chromium.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def browser_page(new_browser_context: Callable[..., Any]) -> Any:
    """A desktop-sized page in a fresh context (signed out)."""
    return new_browser_context().new_page()


def log_in(page: Any, base_url: str, username: str, password: str, next_path: str = "/") -> None:
    """Sign in through the real login form and wait until the next page has loaded."""
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if "/accounts/login/" in page.url:
        raise AssertionError(f"could not sign in as {username!r}")


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under docs/screenshots/ (used in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
