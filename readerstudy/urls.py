"""Reader-study pages and the blinded DICOMweb prefix, under /reading/."""

from django.urls import path, register_converter
from django.views.decorators.gzip import gzip_page

from readerstudy import blinded_dicomweb as dw
from readerstudy import views


class BlindedUidConverter:
    regex = r"[0-9.]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(BlindedUidConverter, "buid")

app_name = "readerstudy"

_root = "dicomweb/<uuid:assignment_id>"
_study = f"{_root}/studies/<buid:study_uid>"
_series = f"{_study}/series/<buid:series_uid>"
_instance = f"{_series}/instances/<buid:sop_uid>"

urlpatterns = [
    path("", views.home, name="home"),
    path("assignments/<uuid:assignment_id>/", views.workstation, name="workstation"),
    path(
        "assignments/<uuid:assignment_id>/cases/<int:position>/",
        views.workstation,
        name="workstation-case",
    ),
    path("studies/", views.study_list, name="studies"),
    path("studies/<uuid:study_id>/", views.study_detail, name="study"),
    path("studies/<uuid:study_id>/import/", views.study_import, name="study-import"),
    path(
        "studies/<uuid:study_id>/references/<uuid:study_case_id>/",
        views.reference_entry,
        name="reference",
    ),
    # Blinded DICOMweb: the same resource paths as /dicomweb/, per assignment.
    path(f"{_root}/studies", dw.SearchStudies.as_view(), name="blind-qido-studies"),
    path(f"{_study}/series", dw.SearchSeries.as_view(), name="blind-qido-series"),
    path(f"{_study}/instances", dw.SearchInstances.as_view(), name="blind-qido-study-instances"),
    path(f"{_series}/instances", dw.SearchInstances.as_view(), name="blind-qido-instances"),
    path(f"{_study}/metadata", gzip_page(dw.StudyMetadata.as_view()), name="blind-study-meta"),
    path(f"{_series}/metadata", gzip_page(dw.SeriesMetadata.as_view()), name="blind-series-meta"),
    path(f"{_instance}", dw.RetrieveInstance.as_view(), name="blind-instance"),
    path(
        f"{_instance}/metadata",
        gzip_page(dw.InstanceMetadata.as_view()),
        name="blind-instance-meta",
    ),
    path(f"{_instance}/frames/<str:frame_list>", dw.InstanceFrames.as_view(), name="blind-frames"),
    path(f"{_instance}/bulkdata/<str:tag>", dw.InstanceBulkData.as_view(), name="blind-bulk"),
    path(f"{_instance}/rendered", dw.RenderedFrame.as_view(), name="blind-rendered"),
    path(
        f"{_instance}/frames/<int:frame_number>/rendered",
        dw.RenderedFrame.as_view(),
        name="blind-frame-rendered",
    ),
]
