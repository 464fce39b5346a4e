"""Cases API routes under /api/v1/."""

from django.urls import path

from cases import api

urlpatterns = [
    path("cases/", api.CaseListApi.as_view(), name="api-cases"),
    path("cases/<str:case_id>/", api.CaseDetailApi.as_view(), name="api-case"),
    path("series/<str:series_id>/", api.SeriesDetailApi.as_view(), name="api-series"),
    path("studies/unassigned/", api.UnassignedStudiesApi.as_view(), name="api-unassigned"),
    path("uploads/", api.UploadApi.as_view(), name="api-uploads"),
]
