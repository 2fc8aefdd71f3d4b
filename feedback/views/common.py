"""Bits shared by feedback's pages: a role check that renders a page, and the error page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from evalhub.roles import has_perm_cached

View = Callable[..., HttpResponse]


def error_page(
    request: HttpRequest,
    *,
    status: int,
    title: str,
    message: str,
    back_url: str = "/",
    back_label: str = "Back to the start page",
) -> HttpResponse:
    context = {"title": title, "message": message, "back_url": back_url, "back_label": back_label}
    return render(request, "feedback/error.html", context, status=status)


def role_required(perm: str, *, title: str, message: str) -> Callable[[View], View]:
    """Signed in (else the login page) and holding ``perm`` (else a 403 page saying why)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_perm_cached(request.user, perm):
                return error_page(request, status=403, title=title, message=message)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate
