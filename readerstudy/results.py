"""Results of a study for its coordinators and admins: the page, the printable report, exports
(XLSX, CSV ZIP) and the analysis as JSON; admins also export every study at once."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import is_admin
from readerstudy import export_files, reports, selectors
from readerstudy.models import ReaderStudy


def _download(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


#: Confusion matrices drawn on the page (a large study has one per reader, question and pair).
MAX_CONFUSION_PLOTS = 24


def _page_context(request: HttpRequest, results: reports.Results) -> dict[str, Any]:
    reader = request.GET.get("reader", "")[:150]
    session = request.GET.get("session", "")[:100]
    rows = results.filtered(reader=reader, session=session)
    reference_rows = [row for row in rows if row.comparison == "reference"]
    accuracy = [row for row in reference_rows if row.statistic == "accuracy"]
    kappas = [row for row in rows if row.statistic.startswith("kappa") or "Fleiss" in row.statistic]
    chosen = [
        c
        for c in results.analysis.confusions
        if reports.involves(c, reader=reader, session=session)
    ]
    # Each plot costs matplotlib about 0.1 s: draw the first few, count the rest.
    confusions = [(c, reports.confusion_plot(c)) for c in chosen[:MAX_CONFUSION_PLOTS]]
    shown = {id(row) for row in accuracy} | {id(row) for row in kappas}
    return {
        "results": results,
        "study": results.study,
        "rows": rows,
        "accuracy": accuracy,
        "kappas": kappas,
        "other_rows": [row for row in rows if id(row) not in shown],
        "accuracy_plot": reports.accuracy_plot(accuracy),
        "confusions": confusions,
        "confusions_not_drawn": len(chosen) - len(confusions),
        "readers": results.data.readers,
        "sessions": list(results.data.sessions.values()),
        "reader": reader,
        "session": session,
    }


@login_required
def results_page(request: HttpRequest, study_id: str) -> HttpResponse:
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    results = reports.study_results(study=study)
    # A coordinator looking at the results is likely to download them next.
    export_files.exports_schedule(study_id=study.pk)
    return render(request, "readerstudy/results.html", _page_context(request, results))


@login_required
def results_report(request: HttpRequest, study_id: str) -> HttpResponse:
    """The printable report (print CSS; the browser prints or saves it as PDF)."""
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    results = reports.study_results(study=study)
    return render(request, "readerstudy/report.html", _page_context(request, results))


def _export_download(study: ReaderStudy, extension: str) -> FileResponse:
    handle, found = export_files.export_open(study=study, extension=extension)
    return FileResponse(
        handle, as_attachment=True, filename=found.filename, content_type=found.content_type
    )


@login_required
def results_xlsx(request: HttpRequest, study_id: str) -> FileResponse:
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    return _export_download(study, "xlsx")


@login_required
def results_csv_zip(request: HttpRequest, study_id: str) -> FileResponse:
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    return _export_download(study, "zip")


@login_required
def all_studies_export(request: HttpRequest) -> HttpResponse:
    """Admins: every study's workbook in one ZIP (each study's file of its current version)."""
    if not is_admin(request.user):
        raise PermissionDenied("Only administrators export across studies.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for study in ReaderStudy.objects.order_by("created_at"):
            handle, found = export_files.export_open(study=study, extension="xlsx")
            with handle:
                archive.writestr(found.filename, handle.read())
    return _download(buffer.getvalue(), content_type="application/zip", filename="all-studies.zip")


class StudyAnalysisApi(APIView):
    """The study's analysis as JSON: every statistic row, comparative summaries, confusions."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return Response(reports.study_results(study=study).as_dict())
