"""Users and roles."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from evalhub.roles import ROLES, STAFF_ROLES, ensure_roles, forget_cached_perms
from evalhub.services.errors import InvalidInput


@dataclass(frozen=True)
class UserWithToken:
    user: AbstractUser
    token: str
    created: bool


def user_create_with_role(
    *, username: str, role: str, password: str | None = None, email: str = ""
) -> UserWithToken:
    """Create the user (or add the role to an existing one) and return their API token."""
    username = (username or "").strip()
    if not username:
        raise InvalidInput("A username is required.")
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if password is not None and len(password) < 8:
        raise InvalidInput("The password must have at least 8 characters.")
    user_model = get_user_model()
    with transaction.atomic():
        if not Group.objects.filter(name=role).exists():
            ensure_roles()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"email": email}
        )
        if password is not None:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        if role in STAFF_ROLES:
            user.is_staff = True
        if role == "admin":
            user.is_superuser = True
        user.save()
        user.groups.add(Group.objects.get(name=role))
        token, _ = Token.objects.get_or_create(user=user)
    forget_cached_perms(user.pk)
    return UserWithToken(user=user, token=token.key, created=created)
