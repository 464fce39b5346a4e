"""Business operations on users and the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db import models, transaction

from accounts.models import AuditEvent, User
from accounts.roles import Role


class AuditOutsideTransactionError(RuntimeError):
    """An audit row was requested outside the transaction of the change it records."""


def audit_event_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    verb: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Record that ``actor`` did ``verb`` to ``obj``, in the caller's transaction.

    The caller wraps its change and this call in one ``transaction.atomic()`` block so that the
    change and its audit row commit or roll back together; calling it outside one is a bug and
    raises ``AuditOutsideTransactionError``.

    Args:
        actor: The user who made the change; ``None`` for the system (tasks, commands).
        verb: What happened, dotted, e.g. ``"reading.submit"`` or ``"user.create"``.
        obj: The object changed (any saved model instance).
        before: The relevant fields before the change (JSON-serializable), if any.
        after: The relevant fields after the change (JSON-serializable), if any.
        reason: Why, when the user gave a reason (corrections of answers must).
    """
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransactionError(
            f"audit_event_record({verb!r}) must run inside the transaction of the change"
        )
    user = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_username=user.get_username() if user else "",
        verb=verb,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:255],
        before=before,
        after=after,
        reason=reason,
    )


def role_groups_ensure() -> dict[Role, Group]:
    """Create the role groups if missing (idempotent) and return them."""
    return {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    password: str,
    roles: list[Role],
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a user with the given roles and audit it."""
    user = User.objects.create_user(
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=Role.ADMIN in roles,
        is_superuser=Role.ADMIN in roles,
    )
    groups = role_groups_ensure()
    user.groups.set([groups[role] for role in roles])
    audit_event_record(
        actor=actor,
        verb="user.create",
        obj=user,
        after={"username": username, "roles": sorted(role.value for role in roles)},
    )
    return user


def user_preferences_set(*, user: User, language: str, time_zone: str) -> User:
    """Save a user's language and time zone (both validated; empty means "not set")."""
    user.language, user.time_zone = language, time_zone
    user.full_clean(exclude=[f.name for f in User._meta.fields if f.name not in _PREFERENCES])
    with transaction.atomic():
        user.save(update_fields=list(_PREFERENCES))
        audit_event_record(
            actor=user,
            verb="user.preferences",
            obj=user,
            after={"language": language, "time_zone": time_zone},
        )
    return user


_PREFERENCES = ("language", "time_zone")
