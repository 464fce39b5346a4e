"""Business operations on cases: create, edit and delete a case, assign series roles (audited).

How images enter is ``cases.ingest``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_event_record
from cases.errors import CaseError
from cases.models import (
    Case,
    Instance,
    Region,
    Series,
    SeriesRole,
    Study,
)
from cases.storage import delete_stored


@transaction.atomic
def case_create(
    *,
    actor: User | None,
    label: str,
    region: Region,
    studies: Iterable[Study],
    levels: str = "",
    clinical_notes: str = "",
) -> Case:
    """Make a case of uploaded studies of one patient, audited."""
    chosen = list(Study.objects.select_for_update().filter(pk__in=[s.pk for s in studies]))
    if not chosen:
        raise CaseError(_("a case needs at least one study"))
    patients = {study.patient_id for study in chosen}
    if len(patients) != 1:
        raise CaseError(_("the studies of a case must belong to one patient"))
    if any(study.case_id is not None for study in chosen):
        raise CaseError(_("a study already belongs to a case"))
    if Case.objects.filter(label=label).exists():
        raise CaseError(_("a case labelled %(label)r exists") % {"label": label})
    case = Case.objects.create(
        label=label,
        patient_id=patients.pop(),
        region=region,
        levels=levels,
        clinical_notes=clinical_notes,
        created_by=actor,
    )
    Study.objects.filter(pk__in=[study.pk for study in chosen]).update(case=case)
    audit_event_record(
        actor=actor,
        verb="case.create",
        obj=case,
        after={
            "label": label,
            "region": region,
            "levels": levels,
            "studies": sorted(study.study_instance_uid for study in chosen),
        },
    )
    return case


_CASE_FIELDS = ("label", "region", "levels", "clinical_notes")


@transaction.atomic
def case_update(*, actor: User, case: Case, changes: dict[str, str]) -> Case:
    """Change a case's label or clinical metadata, audited with before and after values."""
    unknown = set(changes) - set(_CASE_FIELDS)
    if unknown:
        raise CaseError(
            _("these fields cannot be changed: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    case = Case.objects.select_for_update().get(pk=case.pk)
    label = changes.get("label")
    if label is not None and Case.objects.filter(label=label).exclude(pk=case.pk).exists():
        raise CaseError(_("a case labelled %(label)r exists") % {"label": label})
    before = {field: getattr(case, field) for field in changes}
    for field, value in changes.items():
        setattr(case, field, value)
    case.save(update_fields=list(changes))
    audit_event_record(actor=actor, verb="case.update", obj=case, before=before, after=changes)
    return case


def case_delete(*, actor: User, case: Case) -> None:
    """Delete a case with its studies and images, audited; refused while a reader study uses it.

    The pseudonym map stays: the same patient uploaded again gets the same pseudonym. Stored
    files are removed once the deletion has committed.
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        studies = list(case.studies.all())
        keys = list(
            Instance.objects.filter(series__study__in=studies).values_list("storage_key", flat=True)
        )
        snapshot = {
            "label": case.label,
            "region": case.region,
            "patient": case.patient.pseudonym,
            "studies": sorted(study.study_instance_uid for study in studies),
            "instances": len(keys),
        }
        try:
            Study.objects.filter(pk__in=[study.pk for study in studies]).delete()
            audit_event_record(actor=actor, verb="case.delete", obj=case, before=snapshot)
            case.delete()
        except ProtectedError as exc:
            raise CaseError(_("the case is used by a reader study and cannot be deleted")) from exc
    transaction.on_commit(lambda: delete_stored(keys))


@transaction.atomic
def series_role_assign(*, actor: User, series: Series, role: SeriesRole) -> Series:
    """Set what a series is (CT, MRI-T2, pseudo-MRI, ...), audited."""
    series = Series.objects.select_for_update().get(pk=series.pk)
    if role not in SeriesRole.values:
        raise CaseError(_("unknown series role %(role)r") % {"role": role})
    before = {"role": series.role}
    series.role = role
    series.save(update_fields=["role"])
    audit_event_record(
        actor=actor, verb="series.role", obj=series, before=before, after={"role": role}
    )
    return series
