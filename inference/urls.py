"""Pages under /inference/."""

from django.urls import path

from inference import views

app_name = "inference"

urlpatterns = [
    path("cases/<uuid:case_id>/", views.case_panel, name="case-panel"),
    path("cases/<uuid:case_id>/jobs/", views.job_start, name="job-start"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("models/", views.model_list, name="model-list"),
    path("models/<uuid:model_id>/", views.model_card, name="model-card"),
    path("models/<uuid:model_id>/activate/", views.model_activate, name="model-activate"),
]
