"""Template context every page needs: which navigation the user's roles open."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.permissions import can_manage_studies, is_admin


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"nav_can_manage": can_manage_studies(user), "nav_is_admin": is_admin(user)}
