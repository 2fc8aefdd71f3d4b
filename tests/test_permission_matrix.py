"""Every role x every URL pattern, found by walking the URL resolver (a new route is covered the
day it is added): anonymous, rater, agent, pm and admin, each against every route with its path
parameters filled with real object ids (and expert, the labeling reviewer).

- evalhub's own routes have an explicit table of the status each role gets (``EXPECTED``); a
  route of evalhub missing from the table fails the test, so the table stays complete.
- Other apps' routes (feedback, training) are held to the floor: anonymous gets the login page,
  401 or 403 (or 404/405, which say nothing); a rater never gets a 2xx on a manager page or API
  (only the rater pages under /choose/ are theirs); the thumbs docs page is public on purpose.
- Admin routes: anonymous, raters and agents are sent to the admin login; a PM never gets a 2xx
  on user, group or token pages or on any delete page; the admin gets no error on any page.
- No role gets a 5xx anywhere.

Each role's request runs inside a savepoint that is rolled back, so a POST by one role (closing a
campaign, cancelling a job) never changes what the next role sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from evalhub.models import AuditEvent, Job, ModelVersion
from evalhub.services.jobs import job_create
from tests.factories import open_campaign_with_outputs

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "rater", "agent", "expert", "pm", "admin")
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@dataclass(frozen=True)
class Route:
    route: str  # "api/v1/campaigns/<int:pk>/open"
    name: str  # "api-campaign-open" or "admin:evalhub_vote_change"
    urlconf: str  # the module whose urlpatterns hold it: evalhub.api.urls, training.urls...


def _urlconf_name(resolver: URLResolver) -> str:
    conf = resolver.urlconf_name
    return conf if isinstance(conf, str) else getattr(conf, "__name__", "admin")


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            yield from _walk(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or "")
            route = prefix + str(pattern.pattern)
            yield Route(route, name or f"?{route}", _urlconf_name(resolver))


def all_routes() -> list[Route]:
    return list(_walk(get_resolver()))


# -- the explicit table for evalhub's routes -------------------------------------------------
# name: (method, statuses for anonymous, rater, agent, expert, pm, admin). POSTs carry an empty body:
# a role that may act gets its validation answer (400) or the action's redirect.
# fmt: off
EXPECTED: dict[str, tuple[str, tuple[int, int, int, int, int, int]]] = {
    "home":                  ("GET",  (302, 302, 200, 200, 200, 200)),
    "login":                 ("GET",  (200, 200, 200, 200, 200, 200)),
    "logout":                ("POST", (302, 302, 302, 302, 302, 302)),
    "rate-list":             ("GET",  (302, 200, 403, 403, 403, 200)),
    "rate-vote":             ("GET",  (302, 200, 403, 403, 403, 200)),
    "rate-vote-submit":      ("POST", (302, 302, 403, 403, 403, 302)),
    "rate-skip":             ("POST", (302, 302, 403, 403, 403, 302)),
    "dashboard":             ("GET",  (302, 403, 403, 403, 200, 200)),
    "dashboard-campaign":    ("GET",  (302, 403, 403, 403, 200, 200)),
    "dashboard-quality":     ("GET",  (302, 403, 403, 403, 200, 200)),
    "dashboard-quality-exclude":         ("POST", (302, 403, 403, 403, 302, 302)),
    "dashboard-quality-include":         ("POST", (302, 403, 403, 403, 302, 302)),
    "dashboard-quality-exclude-flagged": ("POST", (302, 403, 403, 403, 302, 302)),
    "job-list":              ("GET",  (302, 403, 403, 403, 200, 200)),
    "job-detail":            ("GET",  (302, 403, 403, 403, 200, 200)),
    "job-cancel":            ("POST", (302, 403, 403, 403, 302, 302)),
    "job-retry":             ("POST", (302, 403, 403, 403, 302, 302)),
    "campaign-list":         ("GET",  (302, 403, 403, 403, 200, 200)),
    "campaign-detail":       ("GET",  (302, 403, 403, 403, 200, 200)),
    "campaign-generate":     ("POST", (302, 403, 403, 403, 302, 302)),
    "campaign-open":         ("POST", (302, 403, 403, 403, 302, 302)),
    "campaign-close":        ("POST", (302, 403, 403, 403, 302, 302)),
    "api-campaigns":         ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-campaign":          ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-campaign-open":     ("POST", (401, 403, 403, 403, 200, 200)),
    "api-campaign-close":    ("POST", (401, 403, 403, 403, 200, 200)),
    "api-next":              ("GET",  (401, 200, 403, 403, 403, 200)),
    "api-campaign-report":   ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-quality":           ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-exclusions":        ("POST", (401, 403, 403, 403, 400, 400)),
    "api-exclusion":         ("GET",  (401, 403, 403, 403, 405, 405)),  # DELETE only
    "api-gold":              ("POST", (401, 403, 403, 403, 400, 400)),
    "api-attention-checks":  ("POST", (401, 403, 403, 403, 400, 400)),
    "api-campaign-generate": ("POST", (401, 403, 403, 403, 202, 202)),
    "api-jobs":              ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-job":               ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-job-cancel":        ("POST", (401, 403, 403, 403, 200, 200)),
    "api-job-retry":         ("POST", (401, 403, 403, 403, 409, 409)),
    "api-votes":             ("POST", (401, 400, 403, 403, 403, 400)),
    "api-skip":              ("POST", (401, 400, 403, 403, 403, 400)),
    "api-models":            ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-prompts":           ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-import-prompts":    ("POST", (401, 403, 403, 403, 415, 415)),
    "api-import-outputs":    ("POST", (401, 403, 403, 403, 415, 415)),
    "api-import-battles":    ("POST", (401, 403, 403, 403, 415, 415)),
    "api-sources":           ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-source":            ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-source-records":    ("POST", (401, 403, 403, 403, 400, 400)),
    "api-labels":            ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-label":             ("GET",  (401, 403, 403, 403, 200, 200)),
    "api-label-merge":       ("POST", (401, 403, 403, 403, 400, 400)),
    "schema":                ("GET",  (200, 200, 200, 200, 200, 200)),
    "api-docs":              ("GET",  (200, 200, 200, 200, 200, 200)),
}
# Extra requests on evalhub routes that accept more than one method.
EXTRA: dict[str, tuple[str, tuple[int, int, int, int, int, int]]] = {
    "api-campaigns":         ("POST", (401, 403, 403, 403, 400, 400)),
    "api-models":            ("POST", (401, 403, 403, 403, 400, 400)),
    "api-sources":           ("POST", (401, 403, 403, 403, 400, 400)),
    "api-labels":            ("POST", (401, 403, 403, 403, 400, 400)),
}
# fmt: on
PUBLIC_ELSEWHERE = {"feedback-docs-thumbs"}  # how a product sends thumbs; holds no secret
RATER_PAGES_ELSEWHERE = re.compile(  # n-way choices; labeling work and review: rater pages
    r"^choose/|^labeling/(|tasks/<int:pk>/|review/)$"
    r"|^api/v1/labeling/(tasks/<int:pk>/next|my-tasks|annotations|reviews(/queue)?)$"
)


def is_evalhub(route: Route) -> bool:
    return route.urlconf.startswith("evalhub.") and not route.route.startswith("admin/")


# -- data: one real object for every kind of path parameter ---------------------------------


def _try(make: Callable[[], Any]) -> Any:
    """Objects of other apps, built if their models still look as expected (else None)."""
    try:
        with transaction.atomic():
            return make()
    except Exception:
        return None


@pytest.fixture
def world(make_user) -> dict[str, Any]:
    users = {role: make_user(f"matrix-{role}", role) for role in ROLES[1:]}
    campaign = open_campaign_with_outputs(n_prompts=3, votes_per_prompt=2, name="matrix")
    job = job_create(
        kind="selftest", title="matrix job", task_path="evalhub.tasks.evalhub_selftest_task"
    )
    data: dict[str, Any] = {"users": users, "campaign": campaign, "job": job}
    data["model"] = campaign.candidate
    data["dataset"] = _try(_dataset)
    data["run"] = _try(lambda: _run(data["dataset"], campaign))
    data["choice_token"] = _try(_choice_token)
    data["conversation"] = _try(_conversation)
    data["thumbs_campaign"] = _try(lambda: _feedback_campaign("thumbs"))
    data["workbench_campaign"] = _try(lambda: _feedback_campaign("workbench"))
    data["source"] = _try(_data_source)
    data["label"] = _try(_label)
    data["assist"] = _try(lambda: _assist_runs(campaign))
    data["labeling_task"] = _try(_labeling_task)
    AuditEvent.objects.create(action="probe", object_type="x", object_id="1", via="cli")
    return data


def _data_source() -> Any:
    from evalhub.models import DataSource

    return DataSource.objects.create(name="matrix-source", kind="own_logs")


def _label() -> Any:
    from evalhub.models import Label

    return Label.objects.create(name="matrix-label")


def _assist_runs(campaign: Any) -> dict[str, int]:
    from assist.models import AugmentationRun, JudgeRun

    judge = JudgeRun.objects.create(judge=campaign.candidate, campaign=campaign, template="t")
    augment = AugmentationRun.objects.create(method="paraphrase", model_version=campaign.candidate)
    return {"judge-runs": judge.pk, "augmentations": augment.pk}


def _dataset() -> Any:
    from training.models import DatasetVersion

    return DatasetVersion.objects.create(name="matrix-ds", split_ratios={"train": 1.0})


def _run(dataset: Any, campaign: Any) -> Any:
    from training.models import TrainingRun

    return TrainingRun.objects.create(
        name="matrix-run",
        dataset=dataset,
        start_model=campaign.candidate,
        base_model=campaign.baseline,
        method="dpo",
        output_dir="/nonexistent/matrix-run",
    )


def _feedback_campaign(kind: str) -> Any:
    from tests.test_feedback_helpers import feedback_campaign

    return feedback_campaign(kind, name=f"matrix-{kind}")


def _labeling_task() -> Any:
    from tests.test_labeling_helpers import prompt_task

    return prompt_task(n=2, k=1, name="matrix labeling")


def _choice_token() -> str:
    from feedback.models import ChoiceTask

    task = ChoiceTask.objects.first()
    return task.token if task is not None else None


def _conversation() -> Any:
    from feedback.models import WorkbenchTurn

    turn = WorkbenchTurn.objects.select_related().first()
    return getattr(turn, "public_id", None)


ADMIN_OBJECT = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/<path:object_id>/")


def fill(route: Route, world: dict[str, Any]) -> str:
    """The route's path with every parameter replaced by a real id (or a harmless stand-in)."""
    campaign, job, model = world["campaign"], world["job"], world["model"]
    path = route.route
    match = ADMIN_OBJECT.match(path)
    if match:
        from django.apps import apps

        model_class = apps.get_model(match["app"], match["model"])
        obj = model_class._default_manager.order_by("pk").first()
        path = path.replace("<path:object_id>", str(obj.pk if obj else 1))
    by_kind: dict[str, Any] = {
        "campaign_id": campaign.pk,
        "id": campaign.pk,
        "token": world["choice_token"] or "no-such-token",
        "public_id": world["conversation"] or "no-such-conversation",
        "fmt": "trl",
        "split": "train",
        "name": world.get("model_name", model.name),
        "content_type_id": 1,
        "object_id": 1,
    }
    if route.name in ("feedback-thumbs", "api-feedback-report") and world["thumbs_campaign"]:
        by_kind["pk"] = by_kind["id"] = world["thumbs_campaign"].pk
    elif route.name == "feedback-workbench" and world["workbench_campaign"]:
        by_kind["pk"] = world["workbench_campaign"].pk
    elif route.route.startswith(("api/v1/sources/", "data/sources/")) and world.get("source"):
        by_kind["pk"] = world["source"].pk
    elif route.route.startswith(("api/v1/labels/", "data/labels/")) and world.get("label"):
        by_kind["pk"] = world["label"].pk
    elif route.route.startswith(("assist/", "api/v1/assist/")) and world.get("assist"):
        kind = route.route.split("assist/", 1)[1].split("/")[0]  # judge-runs, augmentations
        by_kind["pk"] = world["assist"].get(kind, campaign.pk)
    elif route.route.startswith(("labeling/", "api/v1/labeling/")) and world.get("labeling_task"):
        by_kind["pk"] = world["labeling_task"].pk
        by_kind["action"] = "open"
    elif "job" in route.name:
        by_kind["pk"] = job.pk
    elif "dataset" in route.route and world["dataset"]:
        by_kind["pk"] = world["dataset"].pk
    elif "runs/" in route.route and world["run"]:
        by_kind["pk"] = world["run"].pk
    elif "models/" in route.route:
        by_kind["pk"] = model.pk
    elif route.name.startswith("admin:auth_user"):
        by_kind["id"] = world["users"]["rater"].pk
    by_kind.setdefault("pk", campaign.pk)

    def value(found: re.Match[str]) -> str:
        return quote(str(by_kind.get(found["name"], 1)), safe="")

    return "/" + re.sub(r"<(?:\w+:)?(?P<name>\w+)>", value, path)


def client_for(role: str, world: dict[str, Any]) -> Client:
    """A signed-in client (session and token) for the role; cached per test (world)."""
    clients = world.setdefault("clients", {})
    if role not in clients:
        clients[role] = _new_client(role, world)
    return clients[role]


def _new_client(role: str, world: dict[str, Any]) -> Client:
    client = Client()
    if role != "anonymous":
        user = world["users"][role]
        client.force_login(user)
        from rest_framework.authtoken.models import Token

        token = Token.objects.get(user=user).key
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client


def request(client: Client, method: str, path: str) -> Any:
    with transaction.atomic():
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={}, content_type="application/json")
        transaction.set_rollback(True)
    return response


def allowed_method(client: Client, path: str) -> str:
    """GET, or POST for a route that only takes POST."""
    response = request(client, "GET", path)
    return "POST" if response.status_code == 405 else "GET"


def login_redirect(response: Any, login: str = LOGIN) -> bool:
    return response.status_code == 302 and response["Location"].startswith(login)


# -- the tests -------------------------------------------------------------------------------


def test_every_evalhub_route_is_in_the_table():
    evalhub_names = {route.name for route in all_routes() if is_evalhub(route)}
    missing = sorted(evalhub_names - set(EXPECTED))
    assert not missing, f"add these evalhub routes to EXPECTED with each role's status: {missing}"
    assert not sorted(set(EXPECTED) - evalhub_names), "EXPECTED names routes that no longer exist"


def test_evalhub_routes_give_each_role_the_expected_status(world):
    routes = {route.name: route for route in all_routes() if is_evalhub(route)}
    wrong = []
    for table in (EXPECTED, EXTRA):
        for name, (method, statuses) in table.items():
            path = fill(routes[name], world)
            for role, expected in zip(ROLES, statuses, strict=True):
                fresh = name == "logout"  # signing out drops the cached client's session
                client = _new_client(role, world) if fresh else client_for(role, world)
                response = request(client, method, path)
                if response.status_code != expected:
                    wrong.append(
                        f"{role:9} {method} {path}: {response.status_code} (want {expected})"
                    )
                if response.status_code == 302 and role == "anonymous" and name not in ("logout",):
                    assert login_redirect(response), (name, response["Location"])
    assert not wrong, "\n".join(wrong)


def test_api_errors_for_roles_have_the_json_shape(world):
    """401 and 403 from the API carry the one error shape (never an HTML page)."""
    routes = {route.name: route for route in all_routes() if is_evalhub(route)}
    for name in ("api-campaigns", "api-next", "api-jobs"):
        path = fill(routes[name], world)
        for role in ("anonymous", "agent"):
            response = request(client_for(role, world), "GET", path)
            assert response.status_code in (401, 403)
            assert set(response.json()["error"]) == {"code", "message", "details"}
    anonymous = request(client_for("anonymous", world), "GET", fill(routes["api-campaigns"], world))
    assert anonymous["WWW-Authenticate"].startswith("Token")


def test_other_apps_routes_hold_the_floor(world):
    problems = []
    for route in all_routes():
        if is_evalhub(route) or route.route.startswith("admin/"):
            continue
        path = fill(route, world)
        method = allowed_method(client_for("pm", world), path)
        for role in ROLES:
            response = request(client_for(role, world), method, path)
            status = response.status_code
            where = f"{role:9} {method} {path} ({route.name})"
            if status >= 500:
                problems.append(f"{where}: {status}")
            refused = login_redirect(response) or status in (401, 403, 404, 405)
            if role == "anonymous" and route.name not in PUBLIC_ELSEWHERE and not refused:
                problems.append(f"{where}: {status} for anonymous")
            rater_page = RATER_PAGES_ELSEWHERE.match(route.route) or route.name in PUBLIC_ELSEWHERE
            if role == "rater" and not rater_page and 200 <= status < 300:
                problems.append(f"{where}: {status}; a rater must not reach it")
    assert not problems, "\n".join(problems)


ADMIN_FORBIDDEN_FOR_PM = re.compile(r"^admin/(auth|authtoken)/|/delete/$")


def test_admin_routes(world):
    problems = []
    for route in all_routes():
        if not route.route.startswith("admin/"):
            continue
        path = fill(route, world)
        for role in ROLES:
            logout = route.name == "admin:logout"
            client = _new_client(role, world) if logout else client_for(role, world)
            method = "POST" if logout else "GET"
            response = request(client, method, path)
            status, where = response.status_code, f"{role:9} {path} ({route.name})"
            if status >= 500:
                problems.append(f"{where}: {status}")
            elif role in ("anonymous", "rater", "agent", "expert"):
                public = route.name in ("admin:login", "admin:view_on_site", "admin:logout")
                if not public and not login_redirect(response, ADMIN_LOGIN):
                    problems.append(f"{where}: {status}, not sent to the admin login")
                if route.name == "admin:view_on_site" and 200 <= status < 300:
                    problems.append(f"{where}: {status}")
            elif (
                role == "pm" and ADMIN_FORBIDDEN_FOR_PM.search(route.route) and 200 <= status < 300
            ):
                problems.append(f"{where}: {status}; a PM must not manage users or delete")
    assert not problems, "\n".join(problems)
    admin = client_for("admin", world)
    assert request(admin, "GET", "/admin/").status_code == 200
    for model in ("campaign", "modelversion", "vote", "auditevent", "job"):
        assert request(admin, "GET", f"/admin/evalhub/{model}/").status_code == 200, model


def test_the_matrix_covers_every_route(world):
    """Nothing is skipped: each route resolves after filling (a typo in fill() would 404 all)."""
    from django.urls import Resolver404, resolve

    unresolved = []
    for route in all_routes():
        try:
            resolve(fill(route, world))
        except Resolver404:
            unresolved.append(route.route)
    assert not unresolved, unresolved
    assert ModelVersion.objects.exists() and Job.objects.exists()
