"""Permission helpers shared by every app.

Deny by default: each view or API endpoint loads the object it acts on through a
``get_<thing>_for_user`` selector that uses these helpers, and raises 404 for what the user may
not see (so ids of hidden objects leak nothing) and 403 for what the user may see but not change.
Per-study roles (coordinators and readers of one study) build on ``has_role``.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import User
from accounts.roles import Role

_ROLE_CACHE = "_sagittal_roles"

AnyUser = AbstractBaseUser | AnonymousUser


def acting_user(request: HttpRequest | Request) -> User:
    """The signed-in user a page or endpoint acts for (its audit events name them).

    Only called behind ``login_required``, ``IsAuthenticated`` or ``HasRole``, which admit real
    users only; anything else is refused rather than trusted.
    """
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def user_roles(user: AnyUser) -> frozenset[Role]:
    """The platform roles of ``user`` (empty for anonymous and inactive users)."""
    if not isinstance(user, User) or not user.is_active:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, _ROLE_CACHE, None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        if user.is_superuser:
            cached = cached | {Role.ADMIN}
        setattr(user, _ROLE_CACHE, cached)  # one query per request, not per check
    return cached


def has_role(user: AnyUser, *roles: Role) -> bool:
    """Whether ``user`` holds any of ``roles``. Admins hold every role."""
    held = user_roles(user)
    return Role.ADMIN in held or any(role in held for role in roles)


def is_admin(user: AnyUser) -> bool:
    return Role.ADMIN in user_roles(user)


def can_manage_studies(user: AnyUser) -> bool:
    """Coordinators (and admins) create cases and studies and read their statistics."""
    return has_role(user, Role.COORDINATOR)


class HasRole(BasePermission):
    """DRF permission: the user holds one of the roles a view names in ``required_roles``."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        required: tuple[Role, ...] = getattr(view, "required_roles", ())
        if not required:
            # A view that forgot to name its roles allows no one.
            return False
        return has_role(request.user, *required)
