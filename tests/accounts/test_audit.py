from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import AuditEvent, User
from accounts.roles import Role
from accounts.services import AuditOutsideTransactionError, audit_event_record, user_create


@pytest.mark.django_db
def test_audit_event_records_actor_verb_object_before_after_reason(coordinator: User) -> None:
    with transaction.atomic():
        event = audit_event_record(
            actor=coordinator,
            verb="user.rename",
            obj=coordinator,
            before={"first_name": ""},
            after={"first_name": "Kenji"},
            reason="typo in the name",
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == coordinator
    assert stored.actor_username == coordinator.username
    assert stored.object_type == "accounts.user"
    assert stored.object_id == str(coordinator.pk)
    assert stored.before == {"first_name": ""}
    assert stored.after == {"first_name": "Kenji"}
    assert stored.reason == "typo in the name"
    assert stored.created_at is not None


@pytest.mark.django_db
def test_audit_event_outside_a_transaction_is_refused(coordinator: User) -> None:
    # pytest-django wraps each test in a transaction; leave it to see the real behaviour.
    with transaction.atomic():
        pass
    connection = transaction.get_connection()
    in_block = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(AuditOutsideTransactionError):
            audit_event_record(actor=coordinator, verb="x", obj=coordinator)
    finally:
        connection.in_atomic_block = in_block


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_audit_row() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        user = User.objects.create_user(username="temp", password="x-very-long-pw")
        audit_event_record(actor=None, verb="user.create", obj=user)
        raise RuntimeError("the change fails after its audit row was written")
    assert not User.objects.filter(username="temp").exists()
    assert not AuditEvent.objects.filter(verb="user.create").exists()


@pytest.mark.django_db
def test_user_create_assigns_role_groups_and_audits(admin_user: User) -> None:
    user = user_create(
        actor=admin_user, username="dr-b", password="a-long-password-1", roles=[Role.READER]
    )
    assert list(user.groups.values_list("name", flat=True)) == ["reader"]
    event = AuditEvent.objects.get(verb="user.create", object_id=str(user.pk))
    assert event.actor == admin_user
    assert event.after == {"username": "dr-b", "roles": ["reader"]}
