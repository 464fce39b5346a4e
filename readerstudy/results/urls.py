"""Routes of study results: pages under /reading/, the JSON analysis under /api/v1/."""

from django.urls import path

from readerstudy.results import pages as results

urlpatterns = [
    path("reading/studies/<uuid:study_id>/results/", results.results_page, name="study-results"),
    path(
        "reading/studies/<uuid:study_id>/results/report/",
        results.results_report,
        name="study-results-report",
    ),
    path(
        "reading/studies/<uuid:study_id>/results/export.xlsx",
        results.results_xlsx,
        name="study-results-xlsx",
    ),
    path(
        "reading/studies/<uuid:study_id>/results/export.zip",
        results.results_csv_zip,
        name="study-results-zip",
    ),
    path("reading/exports/all-studies.zip", results.all_studies_export, name="all-studies-export"),
    path(
        "api/v1/reader-studies/<uuid:study_id>/analysis/",
        results.StudyAnalysisApi.as_view(),
        name="api-reader-study-analysis",
    ),
]
