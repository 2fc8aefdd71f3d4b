"""Web security of every page and endpoint: untrusted text rendered inertly (XSS), CSRF on every
POST, a Content-Security-Policy on every HTML page with no inline script, rate limits on the
product endpoints, request size limits and bad JSON as clear 4xx.

Untrusted text (model output, prompts, labels, campaign and model names, reasons, job errors,
dataset names) carries script tags, event handlers and javascript: links; every GET route of
the URL resolver is then crawled as admin, rater and agent (pages and the admin site, with path
parameters filled with the poisoned objects' ids), and each HTML page is parsed: nothing from
the payload may become a tag, an event handler or a javascript: link.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from rest_framework.test import APIClient

from evalhub.models import AuditEvent, Campaign, Job, Label, ModelVersion, Output, Prompt, Vote
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.rating import assignment_next, vote_record
from tests.test_permission_matrix import ROLES, _try, all_routes, fill, request

pytestmark = pytest.mark.django_db

MARK = "XSSMARK"
PAYLOAD = (
    f'<script>alert("{MARK}")</script><img src=x onerror=alert("{MARK}")>'
    f'"><svg onload=alert("{MARK}")> [click](javascript:alert("{MARK}")) '
    f"<a href=\"javascript:alert('{MARK}')\">x</a>"
)
CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'"
)


def poisoned(suffix: str, limit: int = 200) -> str:
    """A unique name that starts with the payload's script tag (fits ``limit`` characters)."""
    return f"{suffix} {PAYLOAD}"[:limit]


# -- the poisoned world ----------------------------------------------------------------------


@pytest.fixture
def world(make_user) -> dict[str, Any]:
    users = {role: make_user(f"web-{role}", role) for role in ROLES[1:]}
    label = Label.objects.create(name=poisoned("label", limit=100))
    base = ModelVersion.objects.create(name=poisoned("base"), description=PAYLOAD)
    candidate = ModelVersion.objects.create(
        name=poisoned("candidate"), parent=base, method="lora", description=PAYLOAD
    )
    prompts = []
    for i in range(3):
        prompt = Prompt.objects.create(
            instruction=f"{PAYLOAD} instruction {i}",
            input=PAYLOAD,
            system=PAYLOAD,
            history=[[PAYLOAD, PAYLOAD]],
            reference=PAYLOAD,
            external_id=f"xss-{i}",
            source=PAYLOAD[:200],
        )
        prompt.labels.add(label)
        prompts.append(prompt)
        Output.objects.create(prompt=prompt, model_version=base, text=f"{PAYLOAD} base {i}")
        Output.objects.create(prompt=prompt, model_version=candidate, text=f"{PAYLOAD} cand {i}")
    campaign = campaign_create(
        name=poisoned("campaign"),
        rater_title=poisoned("title"),
        guidelines=PAYLOAD,
        baseline=base,
        candidate=candidate,
        prompts=prompts,
        votes_per_prompt=2,
    )
    campaign_open(campaign=campaign)
    campaign.refresh_from_db()
    # A vote with a poisoned reason; the rater then holds a live assignment (the vote page).
    token = assignment_next(campaign=campaign, rater=users["rater"]).token
    vote_record(rater=users["rater"], token=token, choice="left", reason=PAYLOAD)
    job = Job.objects.create(
        kind="generate",
        title=poisoned("job"),
        task_path="evalhub.tasks.evalhub_selftest_task",
        state="failed",
        error=PAYLOAD,
        log=PAYLOAD,
        message=PAYLOAD[:300],
        result={"failures": [{"error": PAYLOAD}]},
        campaign=campaign,
    )
    data: dict[str, Any] = {
        "users": users, "campaign": campaign, "job": job, "model": candidate,
        "choice_token": None, "conversation": None,
    }  # fmt: skip
    # <str:name> routes cannot hold a "/" (the payload's </script>): a slash-free payload.
    data["model_name"] = ModelVersion.objects.create(
        name=f'lineage <img src=x onerror=alert("{MARK}")>', parent=base, method="dpo"
    ).name
    data["dataset"] = _try(lambda: _dataset())
    data["run"] = _try(lambda: _run(data["dataset"], campaign))
    data["thumbs_campaign"] = _try(lambda: _feedback_campaign("thumbs"))
    data["workbench_campaign"] = _try(lambda: _feedback_campaign("workbench"))
    data["choice_campaign"] = _try(lambda: _feedback_campaign("choice"))
    if data["choice_campaign"] is not None:
        data["choice_token"] = _try(lambda: _choice_task(data["choice_campaign"]))
    if data["workbench_campaign"] is not None:
        data["conversation"] = _try(lambda: _conversation(data["workbench_campaign"]))
    return data


def _dataset() -> Any:
    from training.models import DatasetVersion

    return DatasetVersion.objects.create(
        name=poisoned("dataset"), description=PAYLOAD, split_ratios={"train": 1.0}
    )


def _run(dataset: Any, campaign: Campaign) -> Any:
    from training.models import TrainingRun

    return TrainingRun.objects.create(
        name=poisoned("run"),
        dataset=dataset,
        start_model=campaign.candidate,
        base_model=campaign.baseline,
        method="dpo",
        output_dir="/nonexistent/xss-run",
    )


def _feedback_campaign(kind: str) -> Campaign:
    from tests.test_feedback_helpers import feedback_campaign

    return feedback_campaign(kind, name=poisoned(kind, limit=80))


def _product_client(name: str, *, support_system: bool = False) -> APIClient:
    from tests.test_feedback_helpers import product_user

    client = APIClient()
    client.force_authenticate(product_user(name, support_system=support_system))
    return client


def _choice_task(campaign: Campaign) -> str | None:
    options = [
        {"model_version": version.name, "text": f"{PAYLOAD} option {i}"}
        for i, version in enumerate((campaign.baseline, campaign.candidate))
    ]
    body = {"campaign": campaign.pk, "prompt": PAYLOAD, "options": options, "user": PAYLOAD[:200]}
    response = _product_client("xss-shop").post("/api/v1/choices", body, format="json")
    return response.json().get("token") if response.status_code == 201 else None


def _conversation(campaign: Campaign) -> str | None:
    body = {
        "campaign": campaign.pk,
        "external_id": "XSS-1",
        "channel": "email",
        "subject": PAYLOAD[:200],
        "messages": [{"role": "customer", "text": PAYLOAD}],
    }
    client = _product_client("xss-helpdesk", support_system=True)
    response = client.post("/api/v1/workbench/conversations", body, format="json")
    return response.json().get("conversation") if response.status_code == 201 else None


# -- HTML inspection -------------------------------------------------------------------------


class PageInspector(HTMLParser):
    """Finds payload that became markup, inline executable script, and POST forms."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.executed: list[str] = []  # payload that would run
        self.inline_scripts: list[str] = []  # <script> without src that is not JSON data
        self.event_handlers: list[str] = []  # on*="..." attributes (blocked by the CSP anyway)
        self.post_forms: list[dict[str, Any]] = []
        self._script: str | None = None  # "exec" or "data" while inside <script>
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            text = value or ""
            if name.startswith("on"):
                self.event_handlers.append(f"<{tag} {name}={text[:60]!r}>")
                if MARK in text:
                    self.executed.append(f"<{tag} {name}={text[:60]!r}>")
            if name in ("href", "src", "action", "formaction") and text.strip().lower().startswith(
                "javascript:"
            ):
                self.executed.append(f"<{tag} {name}={text[:60]!r}>")
        if tag in ("svg", "iframe", "object", "embed") and any(
            MARK in (v or "") for v in values.values()
        ):
            self.executed.append(f"<{tag}>")
        if tag == "script":
            is_data = (values.get("type") or "").lower() in (
                "application/json",
                "application/ld+json",
            )
            self._script = "data" if is_data else "exec"
            if not is_data and not values.get("src"):
                self.inline_scripts.append("")
        if tag == "form" and (values.get("method") or "get").lower() == "post":
            self._form = {"action": values.get("action"), "csrf": False}
            self.post_forms.append(self._form)
        if (
            tag == "input"
            and self._form is not None
            and values.get("name") == "csrfmiddlewaretoken"
        ):
            self._form["csrf"] = bool(values.get("value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._script == "exec":
            if self.inline_scripts and not self.inline_scripts[-1]:
                self.inline_scripts[-1] = data.strip()[:80]
            if MARK in data:
                self.executed.append(f"<script>{data[:60]}")


def inspect_html(html: str) -> PageInspector:
    inspector = PageInspector()
    inspector.feed(html)
    inspector.close()
    return inspector


def json_html_fields(value: Any) -> list[str]:
    """Every string under a key ending in 'html' (sanitized markdown the API hands out)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, str) and key.endswith("html"):
                found.append(inner)
            else:
                found += json_html_fields(inner)
    elif isinstance(value, list):
        for inner in value:
            found += json_html_fields(inner)
    return found


def crawl(world: dict[str, Any], roles: tuple[str, ...] = ("admin", "rater", "agent")):
    """(role, path, response) for every GET route, for each role that gets a 200."""
    from tests.test_permission_matrix import client_for

    for route in all_routes():
        if route.name in ("logout", "admin:logout"):
            continue
        path = fill(route, world)
        for role in roles:
            response = request(client_for(role, world), "GET", path)
            if response.status_code == 200 and not getattr(response, "streaming", False):
                yield role, path, response


def test_every_page_renders_untrusted_text_inertly_under_the_csp(world):
    problems: dict[str, list[str]] = {
        "payload became markup": [],
        "HTML page without the CSP header": [],
        "inline executable script": [],
        "inline event handler": [],
        "POST form without a CSRF token": [],
    }
    shown, pages = set(), 0
    for role, path, response in crawl(world):
        content_type = response.get("Content-Type", "")
        where = f"{role} {path}"
        if content_type.startswith("application/json"):
            for html in json_html_fields(response.json()):
                if inspect_html(html).executed:
                    problems["payload became markup"].append(f"{where} (JSON html field)")
            continue
        if not content_type.startswith("text/html"):
            continue
        pages += 1
        html = response.content.decode()
        page = inspect_html(html)
        if MARK in html:
            shown.add(path)
        problems["payload became markup"] += [f"{where}: {item}" for item in page.executed]
        if response.get("Content-Security-Policy") != CSP:
            problems["HTML page without the CSP header"].append(where)
        problems["inline executable script"] += [f"{where}: {s!r}" for s in page.inline_scripts]
        problems["inline event handler"] += [f"{where}: {h}" for h in page.event_handlers]
        problems["POST form without a CSRF token"] += [
            f"{where}: action={form['action']!r}" for form in page.post_forms if not form["csrf"]
        ]
    report = "\n".join(
        f"{kind}:\n  " + "\n  ".join(sorted(set(items))[:40])
        for kind, items in problems.items()
        if items
    )
    assert not report, report
    campaign, job = world["campaign"], world["job"]
    vote = Vote.objects.get()
    must_show = {
        f"/rate/{campaign.pk}/",  # prompt, history, both outputs, guidelines
        "/campaigns/",  # campaign name
        f"/jobs/{job.pk}/",  # job error and log
        f"/admin/evalhub/vote/{vote.pk}/change/",  # the reason
        "/admin/evalhub/label/",
        f"/admin/evalhub/output/{Output.objects.order_by('pk').first().pk}/change/",
        f"/admin/evalhub/prompt/{Prompt.objects.order_by('pk').first().pk}/change/",
        f"/admin/evalhub/auditevent/{AuditEvent.objects.order_by('pk').first().pk}/change/",
        f"/dashboard/{campaign.pk}/",
    }
    assert must_show <= shown, sorted(must_show - shown)
    assert pages > 100, pages  # the crawl reached the pages (not a vacuous pass)


def test_api_html_fields_are_sanitized(world):
    """The rater API hands out sanitized markdown; the raw text stays text (JSON-escaped)."""
    client = APIClient()
    client.force_authenticate(world["users"]["rater"])
    response = client.get(f"/api/v1/campaigns/{world['campaign'].pk}/next")
    assert response.status_code == 200
    body = response.json()
    fields = json_html_fields(body)
    assert len(fields) >= 4 and all(MARK in field for field in fields)
    assert not any(inspect_html(field).executed for field in fields)
    assert "<script" not in "".join(fields) and "<img" not in "".join(fields)
    assert body["left"]["text"].startswith(PAYLOAD)  # the text itself, for clients that escape


# -- CSRF ------------------------------------------------------------------------------------


def test_every_post_without_the_csrf_token_is_refused(world):
    """Signed in with a session, a POST without the token is refused on every route (pages,
    admin, and the API under session auth); the token from the page is accepted."""
    admin = world["users"]["admin"]
    accepted = []
    for route in all_routes():
        path = fill(route, world)
        client = Client(enforce_csrf_checks=True)
        client.force_login(admin)
        response = client.post(path, {"anything": "1"})
        if response.status_code != 403:
            accepted.append(f"POST {path} ({route.name}): {response.status_code}")
    assert not accepted, "\n".join(accepted)


def test_the_form_token_is_accepted(world):
    rater, campaign = world["users"]["rater"], world["campaign"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(rater)
    page = client.get(f"/rate/{campaign.pk}/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None
    html = page.content.decode()
    marker = 'name="csrfmiddlewaretoken" value="'
    form_token = html[html.index(marker) + len(marker) :].split('"', 1)[0]
    assignment = html[html.index('name="token" value="') + 20 :].split('"', 1)[0]
    assert token or form_token
    voted = client.post(
        f"/rate/{campaign.pk}/vote",
        {"csrfmiddlewaretoken": form_token, "token": assignment, "choice": "tie"},
    )
    assert voted.status_code == 302 and Vote.objects.filter(choice="tie").count() == 1


# -- rate limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, support_system",
    [
        ("/api/v1/feedback/thumbs", False),
        ("/api/v1/choices", False),
        ("/api/v1/workbench/conversations", True),
    ],
)
def test_product_endpoints_are_rate_limited_per_token(path, support_system, settings):
    from tests.test_feedback_helpers import product_user

    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"feedback": "3/min"}}
    cache.clear()
    try:
        with override_settings(REST_FRAMEWORK=rates):
            first, second = (
                APIClient(),
                APIClient(),
            )
            first.force_authenticate(product_user("shop-a", support_system=support_system))
            second.force_authenticate(product_user("shop-b", support_system=support_system))
            codes = [first.post(path, {}, format="json").status_code for _ in range(4)]
            other = second.post(path, {}, format="json")
            limited = first.post(path, {}, format="json")
    finally:
        cache.clear()
    assert codes[:3] == [400, 400, 400] and codes[3] == 429, codes
    assert other.status_code == 400  # each token has its own budget
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["error"]["code"] == "throttled"


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def pm_api(make_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("input-pm", "pm"))
    return client


def test_oversized_bodies_get_a_json_413_before_anything_reads_them(pm_api, settings, client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = json.dumps({"name": "x" * 20_000})
    response = pm_api.post("/api/v1/campaigns", big, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert "10,000 bytes" in response.json()["error"]["message"]
    upload = pm_api.post(
        "/api/v1/imports/prompts",
        {"file": _named_file("prompts.csv", b"instruction\n" + b"a" * 20_000)},
        format="multipart",
    )
    assert upload.status_code == 413 and upload.json()["error"]["code"] == "request_too_large"
    page = client.post("/accounts/login/", {"username": "x" * 20_000})
    assert page.status_code == 413 and page["Content-Type"].startswith("text/plain")
    assert Campaign.objects.count() == 0 and Prompt.objects.count() == 0


def test_a_body_that_grows_past_the_limit_without_a_length_is_a_json_413(settings, rf):
    """Django's own check (a body read without Content-Length) gets the same answer."""
    from django.core.exceptions import RequestDataTooBig

    from evalhub.middleware import RequestGuardMiddleware

    middleware = RequestGuardMiddleware(lambda request: None)
    response = middleware.process_exception(rf.post("/api/v1/votes"), RequestDataTooBig("x"))
    assert response.status_code == 413 and json.loads(response.content)["error"]["code"]


def _named_file(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/campaigns", "{not json"),
        ("/api/v1/campaigns", '{"name": "x", "baseline": '),
        ("/api/v1/models", "\x00\x01\x02"),
        ("/api/v1/votes", "[1, 2"),
    ],
)
def test_malformed_json_is_a_clear_400(pm_api, path, body, make_user):
    rater = make_user("input-rater", "rater")
    client = pm_api if "votes" not in path else APIClient()
    if "votes" in path:
        client.force_authenticate(rater)
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "parse_error" and "JSON" in error["message"]


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/api/v1/campaigns", {"name": ["a"], "baseline": 1, "candidate": {}}, "name"),
        ("/api/v1/campaigns", {"name": "n", "baseline": "b", "candidate": "c", "votes_per_prompt": "many"}, "baseline"),
        ("/api/v1/models", {"name": "m", "temperature": "hot"}, "temperature"),
        ("/api/v1/models", {"name": "m", "max_tokens": -5}, "max_tokens"),
        ("/api/v1/models", [{"name": "m"}], "non_field_errors"),
    ],
)  # fmt: skip
def test_wrong_types_are_a_clear_400_naming_the_field(pm_api, path, body, field):
    response = pm_api.post(path, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["details"], error
    assert Campaign.objects.count() == 0 and ModelVersion.objects.count() == 0


def test_wrong_types_on_the_rater_api(rater_api):
    for body in (
        {"token": ["x"], "choice": "left"},
        {"token": "x", "choice": 3},
        {"token": "x", "choice": "left", "next": "maybe"},
    ):
        response = rater_api.post("/api/v1/votes", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["code"] == "invalid"
    assert (
        rater_api.post("/api/v1/assignments/skip", {"token": None}, format="json").status_code
        == 400
    )
