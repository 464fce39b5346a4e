"""Permission-scoped reads of the model registry and inference jobs.

Coordinators and admins see every model and job (as they see every case); anyone else sees
none, and anything a user may not see answers 404.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from accounts.permissions import AnyUser, can_manage_studies
from cases.models import Case, Series
from cases.selectors import cases_for_user
from inference.jobs import INPUT_ROLES
from inference.models import InferenceJob, ModelTask, ModelVersion


def model_versions_for_user(*, user: AnyUser) -> QuerySet[ModelVersion]:
    if can_manage_studies(user):
        return ModelVersion.objects.select_related("created_by")
    return ModelVersion.objects.none()


def get_model_version_for_user(*, user: AnyUser, model_version_id: uuid.UUID) -> ModelVersion:
    model_version = model_versions_for_user(user=user).filter(pk=model_version_id).first()
    if model_version is None:
        raise Http404("No such model.")
    return model_version


def active_model_versions() -> dict[str, ModelVersion]:
    """The active model of each task that has one."""
    return {m.task: m for m in ModelVersion.objects.filter(is_active=True)}


def jobs_for_user(*, user: AnyUser) -> QuerySet[InferenceJob]:
    if not can_manage_studies(user):
        return InferenceJob.objects.none()
    return InferenceJob.objects.select_related(
        "case", "source_series__study", "model_version", "created_by"
    ).prefetch_related("output_series__study")


def get_job_for_user(*, user: AnyUser, job_id: uuid.UUID) -> InferenceJob:
    job = jobs_for_user(user=user).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    return job


def get_case_for_user(*, user: AnyUser, case_id: uuid.UUID) -> Case:
    case = cases_for_user(user=user).filter(pk=case_id).first()
    if case is None:
        raise Http404("No such case.")
    return case


def case_input_series(*, case: Case) -> QuerySet[Series]:
    """Series of a case a model can read: acquired CT (derived outputs excluded)."""
    return (
        Series.objects.filter(study__case=case, modality="CT", role__in=INPUT_ROLES)
        .select_related("study")
        .order_by("study__study_instance_uid", "series_number")
    )


def get_case_series(*, case: Case, series_id: uuid.UUID) -> Series:
    """Any series of the case (the job service says which ones a model can read)."""
    series = Series.objects.filter(study__case=case, pk=series_id).select_related("study").first()
    if series is None:
        raise Http404("No such series in this case.")
    return series


def case_output_series(*, case: Case) -> QuerySet[Series]:
    """Series of a case that a model made (they carry a source series)."""
    return (
        Series.objects.filter(study__case=case, source_series__isnull=False)
        .select_related("study", "source_series")
        .order_by("series_number")
    )


def task_choices() -> list[tuple[str, str]]:
    return [(task.value, str(task.label)) for task in ModelTask]
