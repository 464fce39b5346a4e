"""REST API of the model registry and inference jobs (coordinators and admins only).

Views parse, authorize (role, then the permission-scoped selectors: 404 for what the user may
not see), call one service and respond; input and output serializers are separate and never
write domain objects themselves.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasRole, acting_user
from accounts.roles import Role
from cases.models import Series
from inference import jobs, registry, selectors
from inference.errors import InferenceError, JobConflict
from inference.models import InferenceJob, JobState, ModelTask, ModelVersion


def _error(exc: InferenceError) -> Response:
    code = status.HTTP_409_CONFLICT if isinstance(exc, JobConflict) else 400
    return Response({"detail": str(exc)}, status=code)


# --- output serializers ---------------------------------------------------------------------------


class ModelVersionOut(serializers.ModelSerializer[ModelVersion]):
    created_by = serializers.SerializerMethodField()
    queue = serializers.CharField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id", "task", "backend", "name", "version", "description", "sha256", "size_bytes",
            "config", "training_data", "metrics", "device", "queue", "is_active", "created_at",
            "created_by",
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by(self, obj: ModelVersion) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None


class ModelVersionBriefOut(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = ["id", "task", "name", "version", "sha256", "device"]
        read_only_fields = fields


class SeriesRefOut(serializers.ModelSerializer[Series]):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid")
    number_of_instances = serializers.SerializerMethodField()
    dicomweb_url = serializers.SerializerMethodField()

    class Meta:
        model = Series
        fields = [
            "id", "series_instance_uid", "study_instance_uid", "modality", "role",
            "description", "series_number", "number_of_instances", "dicomweb_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_number_of_instances(self, obj: Series) -> int:
        return obj.instances.count()

    def get_dicomweb_url(self, obj: Series) -> str:
        return reverse(
            "qido-instances",
            kwargs={
                "study_uid": obj.study.study_instance_uid,
                "series_uid": obj.series_instance_uid,
            },
        )


class JobOut(serializers.ModelSerializer[InferenceJob]):
    case = serializers.UUIDField(source="case_id")
    case_label = serializers.CharField(source="case.label")
    source_series = SeriesRefOut()
    model_version = ModelVersionBriefOut()
    outputs = SeriesRefOut(source="output_series", many=True)
    created_by = serializers.SerializerMethodField()
    is_terminal = serializers.BooleanField()
    message = serializers.CharField(
        source="display_message", help_text="The state in a few words, in the request's language."
    )

    class Meta:
        model = InferenceJob
        fields = [
            "id", "case", "case_label", "source_series", "model_version", "parameters",
            "state", "is_terminal", "progress", "message", "attempts", "max_attempts",
            "created_at", "created_by", "started_at", "finished_at", "heartbeat_at", "device",
            "timings", "error", "log", "outputs",
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by(self, obj: InferenceJob) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None


# --- input serializers ----------------------------------------------------------------------------


class JobIn(serializers.Serializer[dict[str, Any]]):
    case = serializers.UUIDField()
    series = serializers.UUIDField(help_text="id of a CT series of the case")
    task = serializers.ChoiceField(
        choices=ModelTask.choices, required=False, help_text="runs the task's active model"
    )
    model_version = serializers.UUIDField(required=False, help_text="a specific model")
    parameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="pseudo-MRI: steps, seed; Stable Diffusion pipelines also prompt, strength",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("task") and not attrs.get("model_version"):
            raise ValidationError(_("give a task (its active model runs) or a model_version"))
        return attrs


class JobListQuery(serializers.Serializer[dict[str, Any]]):
    case = serializers.UUIDField(required=False)
    state = serializers.ChoiceField(choices=JobState.choices, required=False)


class ModelListQuery(serializers.Serializer[dict[str, Any]]):
    task = serializers.ChoiceField(choices=ModelTask.choices, required=False)


# --- views ----------------------------------------------------------------------------------------


class _CoordinatorApi(APIView):
    permission_classes = [HasRole]
    required_roles = (Role.COORDINATOR,)


class JobListCreateApi(_CoordinatorApi):
    """List inference jobs (newest first) or start one."""

    @extend_schema(
        parameters=[
            OpenApiParameter("case", str, description="only jobs of this case (uuid)"),
            OpenApiParameter("state", str, enum=[s.value for s in JobState]),
        ],
        responses=JobOut(many=True),
    )
    def get(self, request: Request) -> Response:
        query = JobListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        job_rows = selectors.jobs_for_user(user=acting_user(request))
        if "case" in query.validated_data:
            job_rows = job_rows.filter(case_id=query.validated_data["case"])
        if "state" in query.validated_data:
            job_rows = job_rows.filter(state=query.validated_data["state"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(job_rows, request, view=self)
        return paginator.get_paginated_response(JobOut(page, many=True).data)

    @extend_schema(request=JobIn, responses={201: JobOut, 400: None, 404: None, 409: None})
    def post(self, request: Request) -> Response:
        data = JobIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = acting_user(request)
        case = selectors.get_case_for_user(user=user, case_id=values["case"])
        series = selectors.get_case_series(case=case, series_id=values["series"])
        model_version = None
        if values.get("model_version"):
            model_version = selectors.get_model_version_for_user(
                user=user, model_version_id=values["model_version"]
            )
        try:
            job = jobs.job_create(
                actor=user,
                case=case,
                source_series=series,
                task=values.get("task"),
                model_version=model_version,
                parameters=values.get("parameters"),
            )
        except InferenceError as exc:
            return _error(exc)
        job = selectors.get_job_for_user(user=user, job_id=job.pk)
        return Response(JobOut(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(_CoordinatorApi):
    """One job: state, progress, log and output series (polled by the progress bar)."""

    @extend_schema(responses={200: JobOut, 404: None})
    def get(self, request: Request, job_id: Any) -> Response:
        job = selectors.get_job_for_user(user=acting_user(request), job_id=job_id)
        return Response(JobOut(job).data)


class JobCancelApi(_CoordinatorApi):
    """Cancel a queued or running job."""

    @extend_schema(
        request=inline_serializer("JobCancelIn", {"reason": serializers.CharField(required=False)}),
        responses={200: JobOut, 404: None, 409: None},
    )
    def post(self, request: Request, job_id: Any) -> Response:
        user = acting_user(request)
        job = selectors.get_job_for_user(user=user, job_id=job_id)
        reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
        if not isinstance(reason, str):
            return Response({"detail": "reason must be text"}, status=400)
        try:
            jobs.job_cancel(actor=user, job=job, reason=reason[:500])
        except InferenceError as exc:
            return _error(exc)
        return Response(JobOut(selectors.get_job_for_user(user=user, job_id=job_id)).data)


class ModelListApi(_CoordinatorApi):
    """Registered models, with their checksums, configuration and metrics."""

    @extend_schema(
        parameters=[OpenApiParameter("task", str, enum=[t.value for t in ModelTask])],
        responses=ModelVersionOut(many=True),
    )
    def get(self, request: Request) -> Response:
        query = ModelListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        models = selectors.model_versions_for_user(user=acting_user(request))
        if "task" in query.validated_data:
            models = models.filter(task=query.validated_data["task"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(models, request, view=self)
        return paginator.get_paginated_response(ModelVersionOut(page, many=True).data)


class ModelDetailApi(_CoordinatorApi):
    @extend_schema(responses={200: ModelVersionOut, 404: None})
    def get(self, request: Request, model_id: Any) -> Response:
        model = selectors.get_model_version_for_user(
            user=acting_user(request), model_version_id=model_id
        )
        return Response(ModelVersionOut(model).data)


class ModelActivateApi(_CoordinatorApi):
    """Make a model the active one of its task (jobs started without a model use it)."""

    @extend_schema(request=None, responses={200: ModelVersionOut, 400: None, 404: None})
    def post(self, request: Request, model_id: Any) -> Response:
        user = acting_user(request)
        model = selectors.get_model_version_for_user(user=user, model_version_id=model_id)
        try:
            registry.model_version_activate(actor=user, model_version=model)
        except InferenceError as exc:
            return _error(exc)
        model.refresh_from_db()
        return Response(ModelVersionOut(model).data)
