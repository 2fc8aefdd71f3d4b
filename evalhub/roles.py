"""Roles are Django groups with permissions: rater, agent, expert, pm, admin.

- rater: votes in rating campaigns (/rate/ and the rater API); labels items in tasks meant for
  users (the crowd tier).
- agent: uses the 2+2 workbench; labels items in tasks meant for staff.
- expert: labels items in tasks meant for experts, cross-reviews and spot-checks labels.
- pm:    reads reports and dashboards, manages campaigns, views everything in the admin.
- admin: everything, including the admin site.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

ROLES = ("rater", "agent", "expert", "pm", "admin")
PROJECT_APPS = ("evalhub", "feedback", "training", "labeling", "assist")

_ROLE_PERMISSIONS: dict[str, list[str]] = {
    "rater": ["evalhub.rate_campaign", "evalhub.label_items"],
    "agent": ["evalhub.use_workbench", "evalhub.label_items"],
    "expert": ["evalhub.label_items", "evalhub.review_labels"],
    "pm": ["evalhub.view_reports", "evalhub.manage_campaign", "evalhub.manage_data"],
}
STAFF_ROLES = {"pm", "admin"}


def _permission(codename_with_app: str) -> Permission:
    app_label, codename = codename_with_app.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def ensure_roles(**_: Any) -> None:
    """Create or refresh the role groups; idempotent (runs after every migrate)."""
    project_perms = Permission.objects.filter(content_type__app_label__in=PROJECT_APPS)
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        if role == "admin":
            perms = list(
                Permission.objects.filter(
                    Q(content_type__app_label__in=PROJECT_APPS)
                    | Q(content_type__app_label__in=["auth", "authtoken"])
                )
            )
        elif role == "pm":
            perms = [_permission(p) for p in _ROLE_PERMISSIONS[role]]
            perms += list(project_perms.filter(codename__startswith="view_"))
            perms += list(
                project_perms.filter(
                    codename__in=[
                        "add_campaign",
                        "change_campaign",
                        "add_prompt",
                        "change_prompt",
                        "add_label",
                        "change_label",
                        "add_modelversion",
                        "change_modelversion",
                    ]
                )
            )
        else:
            perms = [_permission(p) for p in _ROLE_PERMISSIONS[role]]
        group.permissions.set(perms)


def user_roles(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    roles = {g.name for g in user.groups.all() if g.name in ROLES}
    if user.is_superuser:
        roles.add("admin")
    return roles


PERMISSION_CACHE_SECONDS = 30


def _perm_cache_key(user_id: int) -> str:
    return f"evalhub:perms:{user_id}"


def has_perm_cached(user: Any, perm: str) -> bool:
    """``user.has_perm`` with the permission set cached for a minute (hot API paths).

    Django already caches permissions on the user object, but that object lives for one
    request; the rater API would pay two permission queries on every call. A change to a
    user's groups, permissions or active flag clears the entry (``connect_cache_invalidation``)
    in the shared cache: set ``REDIS_URL`` when several processes serve (gunicorn workers,
    hosts); with the per-process default cache other processes see it within
    PERMISSION_CACHE_SECONDS.
    """
    from django.core.cache import cache

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    key = _perm_cache_key(user.pk)
    perms = cache.get(key)
    if perms is None:
        perms = frozenset(user.get_all_permissions())
        cache.set(key, perms, PERMISSION_CACHE_SECONDS)
    return perm in perms


def forget_cached_perms(user_id: int) -> None:
    from django.core.cache import cache

    cache.delete(_perm_cache_key(user_id))


def _forget_on_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_ids: list[int] = []
    if hasattr(instance, "groups"):  # a user
        user_ids = [instance.pk]
    elif kwargs.get("model") is not None and kwargs.get("pk_set"):  # group.user_set changed
        user_ids = list(kwargs["pk_set"])
    elif hasattr(instance, "user_set"):  # a group's permissions changed: everyone in it
        user_ids = list(instance.user_set.values_list("pk", flat=True))
    for user_id in user_ids:
        if user_id is not None:
            forget_cached_perms(user_id)


def connect_cache_invalidation() -> None:
    """Clear cached permissions when roles change (cache infrastructure, not a business rule)."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import m2m_changed, post_save

    user_model = get_user_model()
    post_save.connect(_forget_on_change, sender=user_model, dispatch_uid="evalhub.perm_cache.user")
    for through, uid in (
        (user_model.groups.through, "evalhub.perm_cache.groups"),
        (user_model.user_permissions.through, "evalhub.perm_cache.user_perms"),
        (Group.permissions.through, "evalhub.perm_cache.group_perms"),
    ):
        m2m_changed.connect(_forget_on_change, sender=through, dispatch_uid=uid)
