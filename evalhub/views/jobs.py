"""Jobs pages (roles pm and admin): every background job with its state, progress, timings and
errors; one job with its log and result, and Cancel / Retry (POST, then back where it came from).

The pages poll ``GET /api/v1/jobs/{id}`` every 2 s while a job runs (``jobs_poll.html``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from evalhub.models import Job
from evalhub.roles import has_perm_cached
from evalhub.selectors.jobs import job_get, jobs_list
from evalhub.services.errors import NotFound, ServiceError
from evalhub.services.jobs import job_cancel, job_retry

MANAGE_PERMISSION = "evalhub.manage_campaign"
LIST_LIMIT = 200

View = Callable[..., HttpResponse]


def manager_required(view: View) -> View:
    """Signed in (else the login page) and allowed to manage campaigns (else 403)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_perm_cached(request.user, MANAGE_PERMISSION):  # the API's cached check
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _job_or_404(pk: int) -> Job:
    try:
        return job_get(pk)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


def _back(request: HttpRequest, job: Job) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("job-detail", pk=job.pk)


@require_GET
@manager_required
def job_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in Job.State.values:
        state = ""
    jobs = list(jobs_list(state=state or None)[:LIST_LIMIT])
    context: dict[str, Any] = {
        "jobs": jobs,
        "state": state,
        "states": Job.State.values,
        "limit": LIST_LIMIT,
        "any_active": any(not job.is_finished for job in jobs),
    }
    return render(request, "evalhub/jobs_list.html", context)


@require_GET
@manager_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    result = job.result or {}
    context = {
        "job": job,
        # A generation job's result gets its own table; any other job's is shown as JSON.
        "summary": result if job.kind == "generate" and "total" in result else None,
        "result_json": json.dumps(result, indent=2, sort_keys=True) if result else "",
        "params_json": json.dumps(job.params, indent=2, sort_keys=True) if job.params else "",
    }
    return render(request, "evalhub/jobs_detail.html", context)


@require_POST
@manager_required
def job_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    try:
        job = job_cancel(job=job)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        done = "cancelled" if job.state == Job.State.CANCELLED else "will stop at its next step"
        messages.success(request, f"Job {job.pk} {done}.")
    return _back(request, job)


@require_POST
@manager_required
def job_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(pk)
    try:
        job = job_retry(job=job)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Job {job.pk} queued again; it resumes from what was done.")
    return _back(request, job)
