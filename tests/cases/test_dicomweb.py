"""DICOMweb: QIDO-RS, WADO-RS and rendered frames, with permissions on every path."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from accounts.models import User
from cases import deidentify
from cases.models import Case, Instance, Series, SeriesRole

SECRET = settings.DEIDENTIFICATION_SECRET.encode()
PSEUDONYM = deidentify.patient_pseudonym("T1", secret=SECRET)


def _ct(case: Case) -> Series:
    return Series.objects.get(study__case=case, role=SeriesRole.CT)


def _paths(case: Case) -> dict[str, str]:
    series = _ct(case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    study = f"/dicomweb/studies/{series.study.study_instance_uid}"
    se = f"{study}/series/{series.series_instance_uid}"
    inst = f"{se}/instances/{instance.sop_instance_uid}"
    return {
        "study_series": f"{study}/series",
        "study_instances": f"{study}/instances",
        "study_metadata": f"{study}/metadata",
        "series_instances": f"{se}/instances",
        "series_metadata": f"{se}/metadata",
        "series": se,
        "instance": inst,
        "instance_metadata": f"{inst}/metadata",
        "frames": f"{inst}/frames/1",
        "bulk": f"{inst}/bulkdata/7FE00010",
        "rendered": f"{inst}/rendered",
        "frame_rendered": f"{inst}/frames/1/rendered",
    }


def _parts(response) -> list[bytes]:  # type: ignore[no-untyped-def]
    header = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(header + response.content, policy=email.policy.HTTP)
    return [part.get_payload(decode=True) for part in message.iter_parts()]


@pytest.mark.django_db
def test_qido_studies_lists_the_study_with_counts_and_modalities(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client.force_login(coordinator)
    response = client.get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    (study,) = response.json()
    assert study["00100020"]["Value"] == [PSEUDONYM]
    assert study["00080061"]["Value"] == ["CT", "MR"]
    assert study["00201206"]["Value"] == [2]
    assert study["00201208"]["Value"] == [24]
    uid = study["0020000D"]["Value"][0]
    assert study["00081190"]["Value"] == [f"http://testserver/dicomweb/studies/{uid}"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"PatientID={PSEUDONYM}", 1),
        ("PatientID=T1", 0),  # the original ID is not searchable: it is not stored
        ("PatientName=SGT-*", 1),
        (f"PatientName={PSEUDONYM.lower()}", 1),
        ("PatientName=PHANTOM*", 0),
        (f"00100020={PSEUDONYM}", 1),
        ("ModalitiesInStudy=MR", 1),
        ("ModalitiesInStudy=US", 0),
        ("limit=1&offset=1", 0),
    ],
)
def test_qido_study_matching(
    client: Client, coordinator: User, imported_case: Case, query: str, expected: int
) -> None:
    client.force_login(coordinator)
    response = client.get(f"/dicomweb/studies?{query}")
    assert response.status_code == 200
    assert len(response.json()) == expected


@pytest.mark.django_db
def test_qido_series_and_instances(client: Client, coordinator: User, imported_case: Case) -> None:
    client.force_login(coordinator)
    paths = _paths(imported_case)
    series = client.get(paths["study_series"]).json()
    assert sorted(item["00080060"]["Value"][0] for item in series) == ["CT", "MR"]
    assert all(item["00201209"]["Value"] == [12] for item in series)
    assert len(client.get(paths["study_series"] + "?Modality=CT").json()) == 1

    instances = client.get(paths["series_instances"] + "?limit=5&offset=10").json()
    assert len(instances) == 2
    numbers = [item["00200013"]["Value"][0] for item in instances]
    assert numbers == [11, 12]
    with_field = client.get(paths["series_instances"] + "?limit=1&includefield=PixelSpacing")
    assert "00280030" in with_field.json()[0]
    assert client.get(paths["study_instances"] + "?limit=abc").status_code == 400


@pytest.mark.django_db
def test_series_metadata_has_every_instance_with_bulk_data_uris_and_gzip(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client.force_login(coordinator)
    paths = _paths(imported_case)
    response = client.get(paths["series_metadata"], HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    metadata = json.loads(gzip.decompress(response.content))
    assert len(metadata) == 12
    first = metadata[0]
    assert first["00280010"]["Value"] == [64]
    assert "Value" in first["00200032"] and "Value" in first["00280030"]
    bulk = first["7FE00010"]["BulkDataURI"]
    assert bulk.startswith("http://testserver/dicomweb/studies/")
    assert bulk.endswith("/bulkdata/7FE00010")
    assert len(client.get(paths["study_metadata"]).json()) == 24


@pytest.mark.django_db
def test_frames_equal_the_original_pixel_data_byte_for_byte(
    client: Client,
    coordinator: User,
    imported_case: Case,
    cervical_files: dict[str, list[Path]],
) -> None:
    client.force_login(coordinator)
    originals = {
        deidentify.remap_uid(str(ds.SOPInstanceUID), secret=SECRET): ds.PixelData
        for ds in (pydicom.dcmread(path) for path in cervical_files["CT"])
    }
    series = _ct(imported_case)
    for instance in Instance.objects.filter(series=series):
        url = (
            f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
            f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}/frames/1"
        )
        response = client.get(url, HTTP_ACCEPT='multipart/related; type="application/octet-stream"')
        assert response.status_code == 200
        assert response["Content-Type"].startswith("multipart/related")
        assert _parts(response) == [originals[instance.sop_instance_uid]]


@pytest.mark.django_db
def test_frame_errors_are_4xx(client: Client, coordinator: User, imported_case: Case) -> None:
    client.force_login(coordinator)
    frames = _paths(imported_case)["frames"]
    assert client.get(frames[:-1] + "2").status_code == 400  # single-frame instance
    assert client.get(frames[:-1] + "x").status_code == 400
    jpeg = 'multipart/related; type="image/jpeg"'
    assert client.get(frames, HTTP_ACCEPT=jpeg).status_code == 406


@pytest.mark.django_db
def test_retrieve_instance_and_rendered_thumbnail(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client.force_login(coordinator)
    paths = _paths(imported_case)
    response = client.get(
        paths["instance"], HTTP_ACCEPT='multipart/related; type="application/dicom"'
    )
    assert response.status_code == 200
    (part,) = _parts(response)
    assert part[128:132] == b"DICM"
    png = client.get(paths["rendered"] + "?viewport=32")
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reader_a", "outsider"])
def test_users_without_access_get_404_on_every_dicomweb_path(
    client: Client, imported_case: Case, persona: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(persona))
    for name, path in _paths(imported_case).items():
        assert client.get(path).status_code == 404, name
    assert client.get("/dicomweb/studies").json() == []
    assert client.get("/dicomweb/series").json() == []


@pytest.mark.django_db
def test_anonymous_requests_are_refused_and_tokens_work(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    for name, path in _paths(imported_case).items():
        assert client.get(path).status_code == 401, name
    token = Token.objects.create(user=coordinator)
    response = client.get("/dicomweb/studies", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert len(response.json()) == 1


@pytest.mark.django_db(transaction=True)
def test_the_dicomweb_client_library_searches_and_retrieves_from_the_live_server(
    live_server,
    coordinator: User,
    imported_case: Case,  # type: ignore[no-untyped-def]
) -> None:
    from dicomweb_client.api import DICOMwebClient

    token = Token.objects.create(user=coordinator)
    client = DICOMwebClient(
        url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token.key}"}
    )
    (study,) = client.search_for_studies(search_filters={"PatientID": PSEUDONYM})
    study_uid = study["0020000D"]["Value"][0]
    series_list = client.search_for_series(study_uid, search_filters={"Modality": "CT"})
    series_uid = series_list[0]["0020000E"]["Value"][0]
    instances = client.search_for_instances(study_uid, series_uid)
    assert len(instances) == 12
    metadata = client.retrieve_series_metadata(study_uid, series_uid)
    assert len(metadata) == 12
    sop_uid = instances[0]["00080018"]["Value"][0]
    dataset = client.retrieve_instance(study_uid, series_uid, sop_uid)
    assert str(dataset.SOPInstanceUID) == sop_uid
    (frame,) = client.retrieve_instance_frames(
        study_uid,
        series_uid,
        sop_uid,
        frame_numbers=[1],
        media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),),
    )
    assert frame == dataset.PixelData
