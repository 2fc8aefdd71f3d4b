from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from evalhub.roles import has_perm_cached


class HasPerm(BasePermission):
    """``HasPerm.of("evalhub.view_reports")``: the user must hold that Django permission."""

    perm = ""

    @classmethod
    def of(cls, perm: str) -> type[HasPerm]:
        return type(f"HasPerm_{perm.replace('.', '_')}", (cls,), {"perm": perm})

    def has_permission(self, request: Any, view: Any) -> bool:
        return has_perm_cached(request.user, self.perm)
