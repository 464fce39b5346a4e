"""Viewer pages under /viewer/."""

from django.urls import path

from viewer import views

app_name = "viewer"

urlpatterns = [
    path("cases/<uuid:case_id>/", views.case_viewer, name="case"),
]
