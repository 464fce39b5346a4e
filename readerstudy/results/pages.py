"""Results of a study for its coordinators and admins: the page, the printable report, exports
(XLSX, CSV ZIP) and the analysis as JSON; admins also export every study at once.
Plots are SVG drawn by matplotlib.
"""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import is_admin
from readerstudy import selectors, tasks, texts
from readerstudy.models import ReaderStudy
from readerstudy.results import files, load
from readerstudy.results.records import Confusion, StatRow


def _download(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


#: The chance-corrected agreement rows, shown together in the agreement table.
AGREEMENT_STATISTICS = ("kappa", "Fleiss kappa", "Gwet AC", "Krippendorff alpha", "PABAK")

#: Confusion matrices drawn on the page (a large study has one per reader, question and pair).
MAX_CONFUSION_PLOTS = 24


def _in_language(rows: list[StatRow], study: ReaderStudy) -> list[StatRow]:
    """The rows with their questions' labels in the reader's language (the analysis itself is
    cached once for every language)."""
    labels = {q.key: texts.localized(q, "label") for q in study.questions.all()}
    names = sorted(
        ((s.name, texts.localized(s, "name")) for s in study.sessions.all()),
        key=lambda pair: -len(pair[0]),
    )

    def sessions(text: str) -> str:
        for name, local in names:
            text = text.replace(name, local)
        return text

    return [
        dataclasses.replace(
            row,
            question_label=labels.get(row.question, row.question_label),
            sessions=sessions(row.sessions),
        )
        for row in rows
    ]


def _page_context(request: HttpRequest, results: load.Results) -> dict[str, Any]:
    reader = request.GET.get("reader", "")[:150]
    session = request.GET.get("session", "")[:100]
    rows = _in_language(results.filtered(reader=reader, session=session), results.study)
    localized = {s.name: texts.localized(s, "name") for s in results.study.sessions.all()}
    reference_rows = [row for row in rows if row.comparison == "reference"]
    accuracy = [row for row in reference_rows if row.statistic == "accuracy"]
    kappas = [row for row in rows if row.statistic.startswith(AGREEMENT_STATISTICS)]
    chosen = [
        c for c in results.analysis.confusions if load.involves(c, reader=reader, session=session)
    ]
    # Each plot costs matplotlib about 0.1 s: draw the first few, count the rest.
    confusions = [(c, confusion_plot(c)) for c in chosen[:MAX_CONFUSION_PLOTS]]
    shown = {id(row) for row in accuracy} | {id(row) for row in kappas}
    return {
        "results": results,
        "study": results.study,
        "rows": rows,
        "accuracy": accuracy,
        "kappas": kappas,
        "other_rows": [row for row in rows if id(row) not in shown],
        "accuracy_plot": accuracy_plot(accuracy),
        "confusions": confusions,
        "confusions_not_drawn": len(chosen) - len(confusions),
        "readers": results.data.readers,
        "sessions": [(name, localized.get(name, name)) for name in results.data.sessions.values()],
        "reader": reader,
        "session": session,
    }


@login_required
def results_page(request: HttpRequest, study_id: str) -> HttpResponse:
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    results = load.study_results(study=study)
    # A coordinator looking at the results is likely to download them next.
    tasks.exports_schedule(study_id=study.pk)
    return render(request, "readerstudy/results.html", _page_context(request, results))


@login_required
def results_report(request: HttpRequest, study_id: str) -> HttpResponse:
    """The printable report (print CSS; the browser prints or saves it as PDF)."""
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    results = load.study_results(study=study)
    return render(request, "readerstudy/report.html", _page_context(request, results))


def _export_download(study: ReaderStudy, extension: str) -> FileResponse:
    handle, found = files.export_open(study=study, extension=extension)
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
            handle, found = files.export_open(study=study, extension="xlsx")
            with handle:
                archive.writestr(found.filename, handle.read())
    return _download(buffer.getvalue(), content_type="application/zip", filename="all-studies.zip")


class StudyAnalysisApi(APIView):
    """The study's analysis as JSON: every statistic row, comparative summaries, confusions."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return Response(load.study_results(study=study).as_dict())


# --- Plots ---------------------------------------------------------------------------------


# Question labels and axis titles may be Japanese: fonts with CJK glyphs follow the default one
# (matplotlib falls back glyph by glyph), as on the pages (sagittal.css).
PLOT_FONTS = ["DejaVu Sans", "Noto Sans CJK JP", "IPAexGothic", "IPAGothic", "TakaoPGothic"]


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    return figure


def _literal(text: object) -> str:
    """Text a user wrote, drawn as written: matplotlib reads "$...$" as TeX math, and a label
    such as "score $\\frac$" would fail the whole page."""
    return str(text).replace("$", r"\$")


def _svg(figure: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"font.family": PLOT_FONTS}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML prolog and doctype


def accuracy_plot(rows: Sequence[StatRow]) -> str:
    """Bars of accuracy with their Wilson intervals, one group per question, one bar per reader."""
    chosen = [row for row in rows if row.statistic == "accuracy" and not math.isnan(row.value)]
    if not chosen:
        return ""
    questions = list(dict.fromkeys(row.question_label for row in chosen))
    readers = list(dict.fromkeys(row.reader for row in chosen))
    figure = _figure((max(6, 1.2 * len(questions)), 3.2))
    axes = figure.add_subplot()
    width = 0.8 / len(readers)
    for index, reader in enumerate(readers):
        mine = {row.question_label: row for row in chosen if row.reader == reader}
        xs = [q_index + index * width for q_index, q in enumerate(questions) if q in mine]
        values = [100 * mine[q].value for q in questions if q in mine]
        low = [100 * (mine[q].value - mine[q].ci_low) for q in questions if q in mine]
        high = [100 * (mine[q].ci_high - mine[q].value) for q in questions if q in mine]
        axes.bar(xs, values, width, yerr=[low, high], capsize=3, label=_literal(reader))
    axes.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(questions))],
        [_literal(q) for q in questions],
        rotation=20,
        ha="right",
    )
    axes.set_ylabel(_("Accuracy (%) with 95% CI"))
    axes.set_ylim(0, 105)
    axes.legend(fontsize="small")
    return _svg(figure)


def confusion_plot(confusion: Confusion) -> str:
    size = max(2.4, 0.45 * len(confusion.categories) + 1.5)
    figure = _figure((size, size))
    axes = figure.add_subplot()
    axes.imshow(confusion.matrix, cmap="Blues")
    ticks = range(len(confusion.categories))
    categories = [_literal(category) for category in confusion.categories]
    axes.set_xticks(ticks, categories, rotation=45, ha="right")
    axes.set_yticks(ticks, categories)
    axes.set_xlabel(_("reference"))
    axes.set_ylabel(_("answer"))
    for i, row in enumerate(confusion.matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center")
    axes.set_title(
        f"{_literal(confusion.question)}\n{_literal(confusion.reader)}", fontsize="small"
    )
    return _svg(figure)
