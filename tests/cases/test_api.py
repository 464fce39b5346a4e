"""Cases REST API: list with search and thumbnails, detail, create, update, roles, delete."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEvent, User
from cases.models import Case, Instance, Series, SeriesRole, Study
from cases.storage import open_stored
from tests.conftest import client_login


@pytest.mark.django_db
def test_case_list_searches_and_gives_thumbnails_that_render(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client_login(client, coordinator)

    listed = client.get("/api/v1/cases/").json()
    assert listed["count"] == 1
    (row,) = listed["results"]
    assert row["label"] == "TEST-001"
    assert row["number_of_series"] == 2
    thumbnail = client.get(row["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail["Content-Type"] == "image/png"

    assert client.get("/api/v1/cases/?search=test-0").json()["count"] == 1
    assert client.get("/api/v1/cases/?search=nothing-like-it").json()["count"] == 0
    assert client.get("/api/v1/cases/?region=lumbar").json()["count"] == 0


@pytest.mark.django_db
def test_case_detail_lists_studies_and_series_with_roles(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    detail = client_login(client, coordinator).get(f"/api/v1/cases/{imported_case.pk}/").json()

    (study,) = detail["studies"]
    roles = {series["role"]: series for series in study["series"]}
    assert set(roles) == {SeriesRole.CT, SeriesRole.MRI_T2}
    ct = roles[SeriesRole.CT]
    assert ct["number_of_instances"] == Instance.objects.filter(series__role="CT").count()
    assert ct["frame_of_reference_uid"] == roles[SeriesRole.MRI_T2]["frame_of_reference_uid"]
    assert ct["study_instance_uid"] == study["study_instance_uid"]


@pytest.mark.django_db
def test_create_a_case_from_uploaded_studies(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client_login(client, coordinator)
    study = Study.objects.get()
    Study.objects.update(case=None)
    Case.objects.all().delete()
    assert client.get("/api/v1/studies/unassigned/").json()["count"] == 1

    created = client.post(
        "/api/v1/cases/",
        {
            "label": "NEW-1",
            "region": "cervical",
            "levels": "C5",
            "study_uids": [study.study_instance_uid],
        },
        content_type="application/json",
    )

    assert created.status_code == 201, created.content
    assert created.json()["studies"][0]["study_instance_uid"] == study.study_instance_uid
    assert AuditEvent.objects.filter(verb="case.create", after__label="NEW-1").exists()
    forged = client.post(
        "/api/v1/cases/",
        {"label": "NEW-2", "region": "cervical", "study_uids": ["1.2.3"]},
        content_type="application/json",
    )
    assert forged.status_code == 400
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_update_and_role_assignment_are_audited_and_validated(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client_login(client, coordinator)
    url = f"/api/v1/cases/{imported_case.pk}/"

    changed = client.patch(url, {"levels": "C3-C6"}, content_type="application/json")
    assert changed.status_code == 200
    assert changed.json()["levels"] == "C3-C6"
    event = AuditEvent.objects.get(verb="case.update")
    assert event.before == {"levels": ""} and event.after == {"levels": "C3-C6"}

    bad_region = client.patch(url, {"region": "thoracolumbar"}, content_type="application/json")
    assert bad_region.status_code == 400

    mri = Series.objects.get(role=SeriesRole.MRI_T2)
    role_url = f"/api/v1/series/{mri.pk}/"
    assert (
        client.patch(role_url, {"role": "MRI-STIR"}, content_type="application/json").status_code
        == 200
    )
    assert Series.objects.get(pk=mri.pk).role == SeriesRole.MRI_STIR
    assert (
        client.patch(role_url, {"role": "X-ray"}, content_type="application/json").status_code
        == 400
    )
    assert Series.objects.get(pk=mri.pk).role == SeriesRole.MRI_STIR
    assert AuditEvent.objects.filter(verb="series.role").count() == 1


@pytest.mark.django_db(transaction=True)
def test_delete_removes_the_case_its_images_and_files_with_an_audit_event(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    keys = list(Instance.objects.values_list("storage_key", flat=True))

    response = client_login(client, coordinator).delete(f"/api/v1/cases/{imported_case.pk}/")

    assert response.status_code == 204
    assert not Case.objects.exists() and not Instance.objects.exists()
    event = AuditEvent.objects.get(verb="case.delete")
    assert event.before["label"] == "TEST-001" and event.before["instances"] == len(keys)
    with pytest.raises(FileNotFoundError):
        open_stored(keys[0])


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reader_a", "outsider"])
def test_readers_and_outsiders_get_nothing(
    client: Client, persona: str, imported_case: Case, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(persona)
    client_login(client, user)
    series = Series.objects.first()
    assert series is not None
    assert client.get("/api/v1/cases/").status_code == 403
    assert client.get(f"/api/v1/cases/{imported_case.pk}/").status_code == 403
    assert client.delete(f"/api/v1/cases/{imported_case.pk}/").status_code == 403
    assert (
        client.patch(
            f"/api/v1/series/{series.pk}/", {"role": "CT"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_unknown_and_malformed_ids_are_404(client: Client, coordinator: User) -> None:
    client_login(client, coordinator)
    assert client.get("/api/v1/cases/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/api/v1/cases/not-a-uuid/").status_code == 404
    assert (
        client.patch(
            "/api/v1/series/1/", {"role": "CT"}, content_type="application/json"
        ).status_code
        == 404
    )
