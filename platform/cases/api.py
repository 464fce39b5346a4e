"""REST API for coordinators: cases, their series, uploads. Readers and outsiders get nothing.

Each view parses input with an input serializer, loads objects through a selector (404 for what
the user may not see), calls a service and answers with an output serializer.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasRole, acting_user
from accounts.roles import Role
from cases import errors, selectors, services, uploads
from cases.models import Case, Region, Series, SeriesRole, Study


class CoordinatorApi(APIView):
    permission_classes = [IsAuthenticated, HasRole]
    required_roles = (Role.COORDINATOR,)


class SeriesOut(serializers.ModelSerializer[Series]):
    number_of_instances = serializers.SerializerMethodField()
    study_instance_uid = serializers.CharField(source="study.study_instance_uid")
    source_series = serializers.UUIDField(source="source_series_id", allow_null=True)
    thumbnail_url = serializers.SerializerMethodField()
    role_label = serializers.CharField(
        source="get_role_display", help_text="The role, in the request's language."
    )

    class Meta:
        model = Series
        fields = [
            "id",
            "study_instance_uid",
            "series_instance_uid",
            "modality",
            "role",
            "role_label",
            "description",
            "series_number",
            "number_of_instances",
            "frame_of_reference_uid",
            "source_series",
            "provenance",
            "thumbnail_url",
        ]

    def get_number_of_instances(self, series: Series) -> int:
        return int(getattr(series, "n_instances", None) or series.instances.count())

    def get_thumbnail_url(self, series: Series) -> str:
        return selectors.series_thumbnail_path(series=series)


class CaseListOut(serializers.ModelSerializer[Case]):
    patient = serializers.CharField(source="patient.pseudonym")
    number_of_studies = serializers.IntegerField(source="n_studies")
    number_of_series = serializers.IntegerField(source="n_series")
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "id",
            "label",
            "region",
            "levels",
            "patient",
            "number_of_studies",
            "number_of_series",
            "thumbnail_url",
            "created_at",
        ]

    def get_thumbnail_url(self, case: Case) -> str:
        return selectors.case_thumbnail_path(case=case)


class StudyOut(serializers.Serializer[Study]):
    study_instance_uid = serializers.CharField()
    study_date = serializers.DateField(allow_null=True)
    description = serializers.CharField()
    series = serializers.SerializerMethodField()

    def get_series(self, study: Study) -> list[dict[str, Any]]:
        by_study: dict[Any, list[Series]] = self.context["series_by_study"]
        return SeriesOut(by_study.get(study.pk, []), many=True).data  # type: ignore[return-value]


class CaseDetailOut(serializers.ModelSerializer[Case]):
    patient = serializers.CharField(source="patient.pseudonym")
    studies = serializers.SerializerMethodField()

    region_label = serializers.CharField(
        source="get_region_display", help_text="The region, in the request's language."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "label",
            "region",
            "region_label",
            "levels",
            "clinical_notes",
            "patient",
            "studies",
        ]

    def get_studies(self, case: Case) -> list[dict[str, Any]]:
        series = list(selectors.case_series(case=case))
        by_study: dict[Any, list[Series]] = {}
        for item in series:
            by_study.setdefault(item.study_id, []).append(item)
        studies = case.studies.order_by("study_date", "study_instance_uid")
        out = StudyOut(studies, many=True, context={"series_by_study": by_study})  # type: ignore[arg-type]
        return out.data  # type: ignore[return-value]


class CaseCreateIn(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    region = serializers.ChoiceField(choices=Region.choices)
    levels = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    clinical_notes = serializers.CharField(required=False, default="", allow_blank=True)
    study_uids = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=100
    )


class CaseUpdateIn(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=100, required=False)  # type: ignore[assignment]
    region = serializers.ChoiceField(choices=Region.choices, required=False)
    levels = serializers.CharField(max_length=50, required=False, allow_blank=True)
    clinical_notes = serializers.CharField(required=False, allow_blank=True)


class SeriesUpdateIn(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=SeriesRole.choices)


def _case_error(exc: errors.CaseError) -> ValidationError:
    return ValidationError({"detail": str(exc)})


@extend_schema(
    parameters=[
        OpenApiParameter("search", str, description="Label, levels, notes or pseudonym"),
        OpenApiParameter("region", str, enum=list(Region.values)),
    ]
)
class CaseListApi(ListAPIView[Case]):
    """List cases (search, region) or make a case of uploaded studies of one patient."""

    permission_classes = [IsAuthenticated, HasRole]
    required_roles = (Role.COORDINATOR,)
    serializer_class = CaseListOut

    def get_queryset(self) -> QuerySet[Case]:
        params = self.request.query_params
        return selectors.case_search_for_user(
            user=self.request.user,
            text=params.get("search", "").strip(),
            region=params.get("region", ""),
        ).order_by("label")

    @extend_schema(request=CaseCreateIn, responses={201: CaseDetailOut})
    def post(self, request: Request) -> Response:
        data = CaseCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        uids = fields.pop("study_uids")
        studies = list(selectors.studies_for_user(user=request.user).filter(
            study_instance_uid__in=uids
        ))  # fmt: skip
        if len(studies) != len(set(uids)):
            raise ValidationError({"study_uids": ["one or more studies do not exist"]})
        try:
            case = services.case_create(actor=acting_user(request), studies=studies, **fields)
        except errors.CaseError as exc:
            raise _case_error(exc) from exc
        return Response(CaseDetailOut(case).data, status=status.HTTP_201_CREATED)


class CaseDetailApi(CoordinatorApi):
    """A case with its studies and series; change its metadata; delete it (audited)."""

    @extend_schema(responses=CaseDetailOut)
    def get(self, request: Request, case_id: str) -> Response:
        case = selectors.get_case_for_user(user=request.user, case_id=case_id)
        return Response(CaseDetailOut(case).data)

    @extend_schema(request=CaseUpdateIn, responses=CaseDetailOut)
    def patch(self, request: Request, case_id: str) -> Response:
        case = selectors.get_case_for_user(user=request.user, case_id=case_id)
        data = CaseUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            case = services.case_update(
                actor=acting_user(request), case=case, changes=dict(data.validated_data)
            )
        except errors.CaseError as exc:
            raise _case_error(exc) from exc
        return Response(CaseDetailOut(case).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, case_id: str) -> Response:
        case = selectors.get_case_for_user(user=request.user, case_id=case_id)
        try:
            services.case_delete(actor=acting_user(request), case=case)
        except errors.CaseError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SeriesDetailApi(CoordinatorApi):
    """Assign a series its role (CT, MRI-T2, MRM, ...)."""

    @extend_schema(request=SeriesUpdateIn, responses=SeriesOut)
    def patch(self, request: Request, series_id: str) -> Response:
        series = selectors.get_series_by_id_for_user(user=request.user, series_id=series_id)
        data = SeriesUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        series = services.series_role_assign(
            actor=acting_user(request), series=series, role=data.validated_data["role"]
        )
        return Response(SeriesOut(series).data)


class UnassignedStudyOut(serializers.ModelSerializer[Study]):
    patient = serializers.CharField(source="patient.pseudonym")
    number_of_series = serializers.IntegerField(source="n_series")

    class Meta:
        model = Study
        fields = ["study_instance_uid", "study_date", "description", "patient", "number_of_series"]


class UnassignedStudiesApi(ListAPIView[Study]):
    """Uploaded studies that belong to no case yet."""

    permission_classes = [IsAuthenticated, HasRole]
    required_roles = (Role.COORDINATOR,)
    serializer_class = UnassignedStudyOut

    def get_queryset(self) -> QuerySet[Study]:
        return selectors.unassigned_studies_for_user(user=self.request.user)


_UploadReport = inline_serializer(
    "UploadReport",
    fields={
        "stored": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "quarantined": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "files": serializers.ListField(child=serializers.DictField()),
    },
)


class UploadApi(CoordinatorApi):
    """Upload DICOM files or ZIP archives (multipart/form-data, field ``files``).

    Every file gets a line in the report; a bad file does not stop the others. An upload above
    the size limit is refused with 413 before it is read.
    """

    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"files": {"type": "array", "items": {"format": "binary"}}},
            }
        },
        responses={200: _UploadReport},
    )
    def post(self, request: Request) -> Response:
        # Uploads over SAGITTAL_MAX_UPLOAD_BYTES never get here (RequestSizeLimitMiddleware).
        files = request.FILES.getlist("files")
        if not files:
            raise ValidationError({"files": ["choose at least one file"]})
        try:
            report = uploads.upload_ingest(
                files=[(upload.name or "unnamed", upload) for upload in files],
                actor=acting_user(request),
            )
        except uploads.UploadRefused as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        counts = {key: 0 for key in ("stored", "duplicate", "quarantined", "rejected")}
        lines = []
        for item in report:
            counts[item.outcome.status] += 1
            lines.append(
                {
                    "name": item.name,
                    "status": item.outcome.status,
                    "reason": item.outcome.display_reason,
                    "study_instance_uid": item.outcome.study_instance_uid,
                    "series_instance_uid": item.outcome.series_instance_uid,
                }
            )
        return Response({**counts, "files": lines})
