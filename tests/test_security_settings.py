"""Secrets only from the environment, ``check --deploy`` clean with production settings, and the
API docs served from local assets only."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Credentials that must never be committed (provider token shapes, private keys, passwords in URLs).
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "OpenAI key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}\b"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s@'\"]+)@"),
    "assigned secret": re.compile(
        r"""(?i)\b(?:secret_key|api_key|password|passwd|token)\s*[:=]\s*['"]([^'"\s]{24,})['"]"""
    ),
}
# Placeholders that look like secrets on purpose (documented examples, refused at startup).
PLACEHOLDERS = re.compile(r"(?i)change-me|password|example|dummy|placeholder|your[-_]|<[^>]+>|\$\{")
DEV_KEY = "dev-insecure-evalhub-secret-key-change-me"  # refused whenever DEBUG is off


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_no_secrets_are_committed():
    files = tracked_files()
    assert len(files) > 100
    findings = []
    for path in files:
        if path.suffix in {".png", ".jpg", ".gif", ".ico", ".woff", ".woff2", ".pt", ".bin"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for kind, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                secret = match.group(match.lastindex or 0)
                if PLACEHOLDERS.search(secret) or secret == DEV_KEY:
                    continue
                line = text.count("\n", 0, match.start()) + 1
                findings.append(f"{path.relative_to(ROOT)}:{line}: {kind}")
    assert not findings, "\n".join(findings)
    committed_env = [p.name for p in files if p.name == ".env" or p.name.startswith(".env.")]
    assert not [name for name in committed_env if not name.endswith(".example")], committed_env


def test_the_production_env_file_is_ignored_by_git():
    for name in (".env", "deploy/.env.production", ".env.local"):
        check = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT)
        assert check.returncode == 0, f"{name} is not ignored by git"


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    code = f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='evalhub.settings'; django.setup(); from django.conf import settings; print({expr})"
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "DEBUG", "EVALHUB_ENV", "ALLOWED_HOSTS")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_settings_read_the_secret_and_the_database_from_the_environment(tmp_path):
    key = secrets.token_urlsafe(64)
    url = f"sqlite:///{tmp_path / 'from-env.sqlite3'}"
    shown = _settings_in_subprocess(
        {"SECRET_KEY": key, "DATABASE_URL": url, "DEBUG": "false", "ALLOWED_HOSTS": "x.example"},
        "(settings.SECRET_KEY == os.environ['SECRET_KEY'], settings.DATABASES['default']['NAME'], settings.DEBUG)",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"(True, '{tmp_path / 'from-env.sqlite3'}', False)"
    postgres = _settings_in_subprocess(
        {"DATABASE_URL": "postgres://someone@db.internal:6543/evaldb"},
        "(settings.DATABASES['default']['HOST'], settings.DATABASES['default']['PORT'], settings.DATABASES['default']['NAME'])",
    )
    assert postgres.stdout.strip() == "('db.internal', 6543, 'evaldb')", postgres.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"EVALHUB_ENV": "production", "ALLOWED_HOSTS": "x.example"},  # no secret at all
        {"EVALHUB_ENV": "production", "SECRET_KEY": DEV_KEY, "ALLOWED_HOSTS": "x.example"},
        {"EVALHUB_ENV": "production", "SECRET_KEY": "short", "ALLOWED_HOSTS": "x.example"},
        {"DEBUG": "false", "ALLOWED_HOSTS": "x.example"},  # DEBUG off with the dev secret
    ],
)
def test_production_refuses_to_start_without_a_real_secret(env):
    result = _settings_in_subprocess(env, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "needs a real SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    # The test run's own DJANGO_ALLOW_ASYNC_UNSAFE (tests/conftest.py) is not production's.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "EVALHUB_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "evalhub.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://evalhub.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    csp = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='evalhub.settings'; django.setup(); from django.conf import settings; print(settings.EVALHUB_CSP, 'evalhub.middleware.ContentSecurityPolicyMiddleware' in settings.MIDDLEWARE)"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert "script-src 'self'" in csp.stdout and csp.stdout.strip().endswith("True"), csp.stderr


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(values[name] or "")
        if tag == "script" and not values.get("src"):
            self.inline_scripts += 1


def test_api_docs_reference_only_local_assets(client):
    from django.contrib.staticfiles import finders

    response = client.get("/api/docs/")
    assert response.status_code == 200
    assets = _Assets()
    assets.feed(response.content.decode())
    assert assets.inline_scripts == 0  # the split view: the init script is its own URL
    assert assets.urls and all(
        url.startswith("/") and not url.startswith("//") for url in assets.urls
    )
    statics = [url for url in assets.urls if url.startswith("/static/")]
    assert any("swagger-ui-bundle.js" in url for url in statics)
    for url in statics:  # served by this server (whitenoise / collectstatic), not a CDN
        assert finders.find(url.removeprefix("/static/")), url
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "javascript" in script["Content-Type"]
    assert "cdn.jsdelivr" not in script.content.decode() and "unpkg" not in script.content.decode()
