"""Coordinator pages under /cases/."""

from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_new, name="new"),
    path("upload/", views.upload, name="upload"),
    path("<str:case_id>/", views.case_detail, name="detail"),
    path("<str:case_id>/edit/", views.case_edit, name="edit"),
    path("<str:case_id>/delete/", views.case_delete, name="delete"),
    path("<str:case_id>/series/<str:series_id>/role/", views.series_role, name="series-role"),
]
