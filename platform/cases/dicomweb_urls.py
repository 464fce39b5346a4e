"""DICOMweb routes under /dicomweb/ (the standard's resource paths)."""

from django.urls import path, register_converter
from django.views.decorators.gzip import gzip_page

from cases import dicomweb as views
from cases import stow


class UidConverter:
    regex = r"[0-9.]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UidConverter, "uid")

_study = "studies/<uid:study_uid>"
_series = f"{_study}/series/<uid:series_uid>"
_instance = f"{_series}/instances/<uid:sop_uid>"

urlpatterns = [
    path("studies", stow.StudiesResource.as_view(), name="qido-studies"),
    path(_study, stow.StoreInstances.as_view(), name="stow-study"),
    path("series", views.SearchSeries.as_view(), name="qido-all-series"),
    path("instances", views.SearchInstances.as_view(), name="qido-all-instances"),
    path(f"{_study}/series", views.SearchSeries.as_view(), name="qido-series"),
    path(f"{_study}/instances", views.SearchInstances.as_view(), name="qido-study-instances"),
    path(f"{_series}/instances", views.SearchInstances.as_view(), name="qido-instances"),
    path(f"{_study}/metadata", gzip_page(views.StudyMetadata.as_view()), name="wado-study-meta"),
    path(f"{_series}/metadata", gzip_page(views.SeriesMetadata.as_view()), name="wado-series-meta"),
    path(f"{_series}", views.RetrieveSeries.as_view(), name="wado-series"),
    path(f"{_instance}", views.RetrieveInstance.as_view(), name="wado-instance"),
    path(
        f"{_instance}/metadata",
        gzip_page(views.InstanceMetadata.as_view()),
        name="wado-instance-meta",
    ),
    path(
        f"{_instance}/frames/<str:frame_list>", views.InstanceFrames.as_view(), name="wado-frames"
    ),
    path(f"{_instance}/bulkdata/<str:tag>", views.InstanceBulkData.as_view(), name="wado-bulk"),
    path(f"{_instance}/rendered", views.RenderedFrame.as_view(), name="wado-rendered"),
    path(
        f"{_instance}/frames/<int:frame_number>/rendered",
        views.RenderedFrame.as_view(),
        name="wado-frame-rendered",
    ),
]
