"""The coordinators' API of a study's readings as data: every reading (current and
superseded) as JSON, the CSV export, and the CSV import of readings recorded elsewhere.
"""

from __future__ import annotations

import csv
import itertools
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import acting_user
from readerstudy import imports, selectors
from readerstudy.api.base import ReaderStudyApi
from readerstudy.api.reading import reading_out
from readerstudy.models import ReaderStudy, Reading, SlotPlacement
from readerstudy.results import files, sheets


class StudyReadingsApi(ReaderStudyApi):
    """Every reading of the study (current and superseded), for coordinators and analysis."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        readings = (
            Reading.objects.filter(assignment__session__study=study)
            .select_related("assignment__reader", "assignment__session", "study_case__case")
            .order_by("assignment__session__order", "assignment__reader__username", "created_at")
        )
        placements: dict[tuple[Any, Any], dict[str, str]] = {}
        for p in SlotPlacement.objects.filter(assignment__session__study=study):
            placements.setdefault((p.assignment_id, p.study_case_id), {})[p.slot] = p.arm
        return Response(
            {
                "results": [
                    {
                        **(reading_out(r) or {}),
                        "reader": r.assignment.reader.get_username(),
                        "session": r.assignment.session.order,
                        "case": r.study_case.case.label,
                        "study_case": str(r.study_case_id),
                        "position": selectors.position_of(r.assignment, r.study_case_id),
                        "is_current": r.is_current,
                        "supersedes": str(r.supersedes_id) if r.supersedes_id else None,
                        "active_seconds": r.active_seconds,
                        "slots": placements.get((r.assignment_id, r.study_case_id), {}),
                    }
                    for r in readings
                ]
            }
        )


class ExportReadingsApi(ReaderStudyApi):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, study_id: str) -> StreamingHttpResponse:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return readings_csv_response(study=study)


class ReadingsImportIn(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="CSV in the long format of the readings export")
    dry_run = serializers.BooleanField(default=False, help_text="check only; store nothing")
    replace = serializers.BooleanField(
        default=False, help_text="supersede existing readings (kept) instead of refusing"
    )


class ImportReadingsApi(ReaderStudyApi):
    """Readings recorded outside the platform, as CSV (see ``readerstudy.imports``).

    200 with the counts (``stored`` false for a dry run); 400 with ``errors`` (line, column,
    message) and nothing stored when any row is wrong; 409 for a closed study; 413 above
    the size cap.
    """

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ReadingsImportIn},
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = ReadingsImportIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = imports.readings_import_upload(
            actor=acting_user(request),
            study=study,
            upload=data.validated_data["file"],
            replace=data.validated_data["replace"],
            dry_run=data.validated_data["dry_run"],
        )
        code = status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST
        return Response(result.as_dict(), status=code)


class _Echo:
    def write(self, value: str) -> str:
        return value


def readings_csv_response(*, study: ReaderStudy) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    rows = (writer.writerow(sheets.guarded(row)) for row in sheets.readings_rows(study=study))
    response = StreamingHttpResponse(
        itertools.chain([sheets.UTF8_BOM], rows), content_type="text/csv; charset=utf-8"
    )
    filename = f"{files.download_stem(study)}-readings.csv"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
