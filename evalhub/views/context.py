"""Template context shared by every page: the navigation for the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from evalhub.roles import user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    roles = user_roles(getattr(request, "user", None))
    items = []
    if roles & {"rater", "admin"}:
        items.append(("Rate", "/rate/"))
        items.append(("Choose", "/choose/"))
    if roles & {"agent", "admin"}:
        items.append(("Workbench", "/workbench/"))
    if roles & {"pm", "admin"}:
        items.append(("Dashboard", "/dashboard/"))
        items.append(("Campaigns", "/campaigns/"))
        items.append(("Jobs", "/jobs/"))
        items.append(("API docs", "/api/docs/"))
    if roles & {"rater", "agent", "expert", "pm", "admin"}:
        items.append(("Labeling", "/labeling/"))
    if roles & {"pm", "admin"}:
        items.append(("Feedback", "/feedback/"))
        items.append(("Training", "/training/"))
        items.append(("Data", "/data/"))
        items.append(("AI assist", "/assist/"))
    if roles & {"admin", "pm"}:
        items.append(("Admin", "/admin/"))
    return {"nav_items": items, "user_roles": sorted(roles)}
