"""Permission-scoped reads of cases and images.

Coordinators and admins see every case. Readers see the images of their reader-study
assignments only, through the blinded reader-scoped DICOMweb prefix (reader-study issue); on the
plain DICOMweb root they see nothing. Anything a user may not see answers 404.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.permissions import AnyUser, can_manage_studies
from cases.models import Case, Instance, Series, Study


def cases_for_user(*, user: AnyUser) -> QuerySet[Case]:
    if can_manage_studies(user):
        return Case.objects.all()
    return Case.objects.none()


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
