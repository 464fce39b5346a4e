"""Permission-scoped reads of cases and images.

Coordinators and admins see every case. Readers see the images of their reader-study
assignments only, through the blinded reader-scoped DICOMweb prefix (reader-study issue); on the
plain DICOMweb root they see nothing. Anything a user may not see answers 404.
"""

from __future__ import annotations

import uuid

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.permissions import AnyUser, can_manage_studies
from cases.models import Case, Instance, Series, Study


def cases_for_user(*, user: AnyUser) -> QuerySet[Case]:
    if can_manage_studies(user):
        return Case.objects.all()
    return Case.objects.none()


def case_search_for_user(*, user: AnyUser, text: str = "", region: str = "") -> QuerySet[Case]:
    """Cases matching a free-text search (label, levels, notes, pseudonym) and region."""
    cases = cases_for_user(user=user)
    if text:
        cases = cases.filter(
            Q(label__icontains=text)
            | Q(levels__icontains=text)
            | Q(clinical_notes__icontains=text)
            | Q(patient__pseudonym__icontains=text)
        )
    if region:
        cases = cases.filter(region=region)
    return cases.select_related("patient").annotate(
        n_studies=Count("studies", distinct=True),
        n_series=Count("studies__series", distinct=True),
    )


def _uuid_or_404(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Http404("No such object.") from exc


def get_case_for_user(*, user: AnyUser, case_id: object) -> Case:
    case = cases_for_user(user=user).filter(pk=_uuid_or_404(case_id)).first()
    if case is None:
        raise Http404("No such case.")
    return case


def get_series_by_id_for_user(*, user: AnyUser, series_id: object) -> Series:
    series = (
        Series.objects.filter(study__in=studies_for_user(user=user), pk=_uuid_or_404(series_id))
        .select_related("study")
        .first()
    )
    if series is None:
        raise Http404("No such series.")
    return series


def case_series(*, case: Case) -> QuerySet[Series]:
    """The series of a case with their instance counts, in reading order."""
    return (
        Series.objects.filter(study__case=case)
        .select_related("study")
        .annotate(n_instances=Count("instances"))
        .order_by("study__study_date", "series_number", "series_instance_uid")
    )


def representative_instance(*, series: Series) -> Instance | None:
    """The middle instance of a series: the slice a thumbnail shows."""
    instances = series.instances.order_by("instance_number", "sop_instance_uid")
    count = getattr(series, "n_instances", None)
    if count is None:
        count = instances.count()
    return instances[count // 2] if count else None


def unassigned_studies_for_user(*, user: AnyUser) -> QuerySet[Study]:
    """Uploaded studies not yet in a case, for coordinators to make cases of."""
    return (
        studies_for_user(user=user)
        .filter(case__isnull=True)
        .select_related("patient")
        .annotate(n_series=Count("series", distinct=True))
        .order_by("patient__pseudonym", "study_date")
    )


def studies_for_user(*, user: AnyUser) -> QuerySet[Study]:
    """Studies the user may see, including uploads not yet in a case (coordinators)."""
    if can_manage_studies(user):
        return Study.objects.all()
    return Study.objects.none()


def get_study_for_user(*, user: AnyUser, study_uid: str) -> Study:
    study = studies_for_user(user=user).filter(study_instance_uid=study_uid).first()
    if study is None:
        raise Http404("No such study.")
    return study


def get_series_for_user(*, user: AnyUser, study_uid: str, series_uid: str) -> Series:
    series = (
        Series.objects.filter(
            study__in=studies_for_user(user=user),
            study__study_instance_uid=study_uid,
            series_instance_uid=series_uid,
        )
        .select_related("study")
        .first()
    )
    if series is None:
        raise Http404("No such series.")
    return series


def get_instance_for_user(
    *, user: AnyUser, study_uid: str, series_uid: str, sop_uid: str
) -> Instance:
    instance = (
        Instance.objects.filter(
            series__study__in=studies_for_user(user=user),
            series__study__study_instance_uid=study_uid,
            series__series_instance_uid=series_uid,
            sop_instance_uid=sop_uid,
        )
        .select_related("series__study")
        .first()
    )
    if instance is None:
        raise Http404("No such instance.")
    return instance


def series_thumbnail_path(*, series: Series) -> str:
    """The rendered-frame URL path of a series' middle slice ("" for a series without images)."""
    instance = representative_instance(series=series)
    if instance is None:
        return ""
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
        f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}/rendered"
        "?viewport=128"
    )


def case_thumbnail_path(*, case: Case) -> str:
    """The thumbnail of a case: its first CT series if it has one, else its first series."""
    series = case_series(case=case)
    chosen = series.filter(modality="CT").first() or series.first()
    return series_thumbnail_path(series=chosen) if chosen is not None else ""
