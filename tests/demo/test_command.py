"""``manage.py demo``: users, cases, queued inference jobs and reader studies, idempotently."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from accounts.models import AuditEvent, User
from cases.models import Case, Instance, Series, SeriesRole
from inference.models import InferenceJob, JobState
from readerstudy.models import ReaderStudy


@pytest.mark.django_db
@override_settings(DEBUG=True, DEMO_PASSWORD="demo-password-for-tests")
def test_demo_creates_users_and_cases_once(client: Client) -> None:
    call_command("demo")
    counts = (User.objects.count(), Case.objects.count(), Instance.objects.count())
    events = AuditEvent.objects.count()

    # The five logins of the README; other demo users (simulated readers) are labelled as such.
    assert {"admin", "coordinator", "reader-a", "reader-b", "surgeon"} <= set(
        User.objects.values_list("username", flat=True)
    )
    assert Case.objects.filter(region="cervical").count() >= 7
    assert Case.objects.filter(region="lumbar").count() >= 5
    for case in Case.objects.filter(region="cervical"):
        roles = set(Series.objects.filter(study__case=case).values_list("role", flat=True))
        assert roles >= {SeriesRole.CT, SeriesRole.MRI_T2}
    for case in Case.objects.filter(region="lumbar"):
        roles = set(Series.objects.filter(study__case=case).values_list("role", flat=True))
        assert roles >= {SeriesRole.DECT_MIXED, SeriesRole.MRM, SeriesRole.NCCTM_MASK}

    # The inference jobs go to the worker (make run serves pages meanwhile): one per case.
    queued = InferenceJob.objects.filter(state=JobState.PENDING)
    assert queued.count() == Case.objects.count()
    assert ReaderStudy.objects.count() == 3  # built on the stand-in pseudo-MRI, not the jobs

    call_command("demo")  # the second run creates nothing
    assert (User.objects.count(), Case.objects.count(), Instance.objects.count()) == counts
    assert AuditEvent.objects.count() == events
    assert InferenceJob.objects.count() == queued.count()

    assert client.login(username="reader-a", password="demo-password-for-tests")
    assert User.objects.get(username="admin").is_superuser


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_demo_is_refused_with_debug_off() -> None:
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("demo")
    assert not User.objects.exists()
