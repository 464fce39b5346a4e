"""The fast serving path of DICOMweb: access grants, cached frame sources and metadata bodies.

What is cached must never widen access: a grant belongs to one credential and one study, it
expires, and a study deleted after the grant answers 404, not 500 or stale pixels.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token

from accounts.models import User
from cases import dicomweb_cache
from cases.models import Case, Instance, Series, SeriesRole
from cases.services import case_delete, instance_ingest

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


@pytest.fixture(autouse=True)
def _empty_caches() -> Iterator[None]:
    dicomweb_cache.clear()
    yield
    dicomweb_cache.clear()


def _ct(case: Case) -> Series:
    return Series.objects.get(study__case=case, role=SeriesRole.CT)


def _frame_url(series: Series, instance: Instance, frame: str = "1") -> str:
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
        f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}/frames/{frame}"
    )


def _frame(response) -> bytes:  # type: ignore[no-untyped-def]
    header = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(header + response.content, policy=email.policy.HTTP)
    (part,) = message.iter_parts()
    payload: bytes = part.get_payload(decode=True)
    return payload


def _token_client(user: User) -> Client:
    token = Token.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_ACCEPT=FRAME_ACCEPT)


@pytest.mark.django_db
def test_granted_frames_equal_the_first_answer_and_other_credentials_get_nothing(
    coordinator: User, outsider: User, imported_case: Case
) -> None:
    series = _ct(imported_case)
    instances = list(series.instances.order_by("instance_number"))
    client = _token_client(coordinator)
    full = client.get(_frame_url(series, instances[0]))  # the full path leaves a grant
    first = {i.pk: _frame(client.get(_frame_url(series, i))) for i in instances}
    granted = client.get(_frame_url(series, instances[0]))
    assert first[instances[0].pk] == _frame(full) == _frame(granted)
    assert all(len(data) == 64 * 64 * 2 for data in first.values())
    assert len(set(first.values())) == len(instances)
    for header in ("Allow", "Vary", "Content-Length", "X-Frame-Options"):
        assert granted.get(header) == full.get(header), header

    stranger = _token_client(outsider)
    assert stranger.get(_frame_url(series, instances[0])).status_code == 404
    anonymous = Client(HTTP_ACCEPT=FRAME_ACCEPT)
    assert anonymous.get(_frame_url(series, instances[0])).status_code == 401


@pytest.mark.django_db
def test_granted_requests_still_validate_frames_accept_and_the_instance(
    coordinator: User, imported_case: Case
) -> None:
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    client = _token_client(coordinator)
    assert client.get(_frame_url(series, instance)).status_code == 200  # leaves a grant
    assert client.get(_frame_url(series, instance, "2")).status_code == 400
    assert client.get(_frame_url(series, instance, "x")).status_code == 400
    jpeg = 'multipart/related; type="image/jpeg"'
    assert client.get(_frame_url(series, instance), HTTP_ACCEPT=jpeg).status_code == 406
    # A UID from another series of the same study is not an instance of this one.
    other = Series.objects.exclude(pk=series.pk).get(study=series.study)
    wrong = _frame_url(other, instance)
    assert client.get(wrong).status_code == 404


@pytest.mark.django_db
def test_a_revoked_role_stops_frames_when_the_grant_expires(
    coordinator: User, imported_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    client = _token_client(coordinator)
    assert client.get(_frame_url(series, instance)).status_code == 200
    coordinator.groups.clear()
    # Within the grant's lifetime the answer is the cached one (the documented window) ...
    assert client.get(_frame_url(series, instance)).status_code == 200
    # ... and once it has passed, the full check runs again and refuses.
    now = dicomweb_cache.time.monotonic()
    monkeypatch.setattr(dicomweb_cache.time, "monotonic", lambda: now + 3600)
    assert client.get(_frame_url(series, instance)).status_code == 404


@pytest.mark.django_db
def test_without_grants_every_frame_request_is_checked_fully(
    coordinator: User, imported_case: Case, settings: Settings
) -> None:
    settings.DICOMWEB_ACCESS_CACHE_SECONDS = 0
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    client = _token_client(coordinator)
    assert client.get(_frame_url(series, instance)).status_code == 200
    coordinator.groups.clear()
    assert client.get(_frame_url(series, instance)).status_code == 404


@pytest.mark.django_db
def test_frames_of_a_case_deleted_after_the_grant_are_404(
    coordinator: User,
    imported_case: Case,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    series = _ct(imported_case)
    instances = list(series.instances.order_by("instance_number")[:2])
    urls = [_frame_url(series, instance) for instance in instances]
    client = _token_client(coordinator)
    assert client.get(urls[0]).status_code == 200  # grant, and this instance's source cached
    with django_capture_on_commit_callbacks(execute=True):
        case_delete(actor=coordinator, case=imported_case)  # rows, then the stored files
    assert client.get(urls[0]).status_code == 404  # cached source, file gone
    assert client.get(urls[1]).status_code == 404  # no row to find
    now = dicomweb_cache.time.monotonic()
    monkeypatch.setattr(dicomweb_cache.time, "monotonic", lambda: now + 3600)
    assert client.get(urls[0]).status_code == 404


@pytest.mark.django_db
def test_series_metadata_follows_added_instances_and_the_request_host(
    client: Client, coordinator: User, imported_case: Case, cervical_files: dict[str, list[Path]]
) -> None:
    client.force_login(coordinator)
    series = _ct(imported_case)
    url = f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}"
    plain = client.get(f"{url}/metadata")
    zipped = client.get(f"{url}/metadata", HTTP_ACCEPT_ENCODING="gzip")
    assert "Content-Encoding" not in plain
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert json.loads(gzip.decompress(zipped.content)) == plain.json()
    assert len(plain.json()) == 12

    elsewhere = client.get(f"{url}/metadata", HTTP_HOST="localhost")
    bulk = elsewhere.json()[0]["7FE00010"]["BulkDataURI"]
    assert bulk.startswith("http://localhost/dicomweb/studies/")

    # A new instance of the same series (another SOP Instance UID) joins the answer.
    ds = pydicom.dcmread(cervical_files["CT"][0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = 99
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert instance_ingest(data=buffer.getvalue(), role=SeriesRole.CT).status == "stored"
    after = client.get(f"{url}/metadata", HTTP_ACCEPT_ENCODING="gzip")
    assert len(json.loads(gzip.decompress(after.content))) == 13
    study_meta = client.get(f"/dicomweb/studies/{series.study.study_instance_uid}/metadata")
    assert len(study_meta.json()) == 25


@pytest.mark.django_db
def test_series_retrieve_streams_every_instance(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client.force_login(coordinator)
    series = _ct(imported_case)
    url = f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}"
    response = client.get(url, HTTP_ACCEPT='multipart/related; type="application/dicom"')
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    header = f"Content-Type: {response['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(header + body, policy=email.policy.HTTP)
    parts = [part.get_payload(decode=True) for part in message.iter_parts()]
    datasets = [pydicom.dcmread(io.BytesIO(part)) for part in parts]
    assert [int(ds.InstanceNumber) for ds in datasets] == list(range(1, 13))
    assert {str(ds.SOPInstanceUID) for ds in datasets} == set(
        series.instances.values_list("sop_instance_uid", flat=True)
    )
