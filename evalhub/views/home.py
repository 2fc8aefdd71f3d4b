from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from evalhub.roles import user_roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to where its work is."""
    roles = user_roles(request.user)
    if "rater" in roles and not roles & {"pm", "admin"}:
        return redirect("rate-list")
    return render(request, "evalhub/home.html", {"roles": sorted(roles)})
