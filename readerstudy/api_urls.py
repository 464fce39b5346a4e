"""Reader-study API routes under /api/v1/: ``reader-studies/`` for coordinators and reference
editors, ``reading/`` for readers."""

from django.urls import path

from readerstudy import api

_study = "reader-studies/<uuid:study_id>"

urlpatterns = [
    path("reader-studies/", api.StudyListApi.as_view(), name="api-reader-studies"),
    path(
        "reader-studies/protocols/", api.ProtocolsApi.as_view(), name="api-reader-study-protocols"
    ),
    path(f"{_study}/", api.StudyDetailApi.as_view(), name="api-reader-study"),
    path(f"{_study}/status/", api.StudyStatusApi.as_view(), name="api-reader-study-status"),
    path(f"{_study}/questions/", api.QuestionListApi.as_view(), name="api-reader-study-questions"),
    path(
        f"{_study}/questions/<slug:key>/",
        api.QuestionDetailApi.as_view(),
        name="api-reader-study-question",
    ),
    path(f"{_study}/sessions/", api.SessionListApi.as_view(), name="api-reader-study-sessions"),
    path(
        f"{_study}/sessions/<int:order>/",
        api.SessionDetailApi.as_view(),
        name="api-reader-study-session",
    ),
    path(f"{_study}/cases/", api.StudyCaseListApi.as_view(), name="api-reader-study-cases"),
    path(
        f"{_study}/cases/<uuid:study_case_id>/",
        api.StudyCaseDetailApi.as_view(),
        name="api-reader-study-case",
    ),
    path(
        f"{_study}/cases/<uuid:study_case_id>/reference/",
        api.CaseReferenceApi.as_view(),
        name="api-reader-study-case-reference",
    ),
    path(f"{_study}/members/", api.MemberListApi.as_view(), name="api-reader-study-members"),
    path(
        f"{_study}/members/<slug:role>/<str:username>/",
        api.MemberDetailApi.as_view(),
        name="api-reader-study-member",
    ),
    path(f"{_study}/progress/", api.ProgressApi.as_view(), name="api-reader-study-progress"),
    path(f"{_study}/readings/", api.StudyReadingsApi.as_view(), name="api-reader-study-readings"),
    path(
        f"{_study}/references/", api.ReferenceListApi.as_view(), name="api-reader-study-references"
    ),
    path(
        f"{_study}/export/readings.csv",
        api.ExportReadingsApi.as_view(),
        name="api-reader-study-export",
    ),
    path(
        f"{_study}/readings/import/",
        api.ImportReadingsApi.as_view(),
        name="api-reader-study-readings-import",
    ),
    path("reading/assignments/", api.MyAssignmentsApi.as_view(), name="api-reading-assignments"),
    path(
        "reading/assignments/<uuid:assignment_id>/",
        api.MyAssignmentApi.as_view(),
        name="api-reading-assignment",
    ),
    path(
        "reading/assignments/<uuid:assignment_id>/cases/<int:position>/open/",
        api.CaseOpenApi.as_view(),
        name="api-reading-case-open",
    ),
    path("reading/readings/<uuid:reading_id>/", api.ReadingApi.as_view(), name="api-reading"),
    path(
        "reading/readings/<uuid:reading_id>/submit/",
        api.ReadingSubmitApi.as_view(),
        name="api-reading-submit",
    ),
    path(
        "reading/readings/<uuid:reading_id>/heartbeat/",
        api.ReadingHeartbeatApi.as_view(),
        name="api-reading-heartbeat",
    ),
    path(
        "reading/readings/<uuid:reading_id>/amend/",
        api.ReadingAmendApi.as_view(),
        name="api-reading-amend",
    ),
]
