"""REST routes under /api/v1/inference/."""

from django.urls import path

from inference import api

urlpatterns = [
    path("jobs/", api.JobListCreateApi.as_view(), name="inference-api-jobs"),
    path("jobs/<uuid:job_id>/", api.JobDetailApi.as_view(), name="inference-api-job"),
    path("jobs/<uuid:job_id>/cancel/", api.JobCancelApi.as_view(), name="inference-api-job-cancel"),
    path("models/", api.ModelListApi.as_view(), name="inference-api-models"),
    path("models/<uuid:model_id>/", api.ModelDetailApi.as_view(), name="inference-api-model"),
    path(
        "models/<uuid:model_id>/activate/",
        api.ModelActivateApi.as_view(),
        name="inference-api-model-activate",
    ),
]
