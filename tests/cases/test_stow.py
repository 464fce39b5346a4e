"""STOW-RS: POST /dicomweb/studies answers as PS3.18 says and stores through the ingest service."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
import pytest
from django.test import Client
from django.test.utils import override_settings

from accounts.models import User
from cases.models import Instance, Study
from tests.conftest import client_login

BOUNDARY = "sagittal-test-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def stow_body(parts: list[bytes], *, part_type: str = "application/dicom") -> bytes:
    chunks = []
    for data in parts:
        chunks.append(f"--{BOUNDARY}\r\nContent-Type: {part_type}\r\n\r\n".encode())
        chunks.append(data + b"\r\n")
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(chunks)


def stow_post(client: Client, body: bytes, *, path: str = "/dicomweb/studies", **extra: str):  # type: ignore[no-untyped-def]
    return client.generic(
        "POST", path, body, content_type=extra.pop("content_type", CONTENT_TYPE), **extra
    )


def sop_uid_of(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


@pytest.fixture
def ct_bytes(cervical_files: dict[str, list[Path]]) -> list[bytes]:
    return [path.read_bytes() for path in cervical_files["CT"][:3]]


@pytest.mark.django_db
def test_stow_stores_all_instances_with_200_and_references_the_senders_uids(
    client: Client, coordinator: User, ct_bytes: list[bytes]
) -> None:
    response = stow_post(client_login(client, coordinator), stow_body(ct_bytes))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    answer = response.json()
    referenced = answer["00081199"]["Value"]
    assert [item["00081155"]["Value"][0] for item in referenced] == [
        sop_uid_of(data) for data in ct_bytes
    ]
    stored_uids = set(Instance.objects.values_list("sop_instance_uid", flat=True))
    assert len(stored_uids) == 3
    for item in referenced:
        url = item["00081190"]["Value"][0]
        assert url.rsplit("/", 1)[-1] in stored_uids  # the platform's de-identified UID
        assert item["00081196"]["Value"] == [0xB000]  # UIDs were coerced by de-identification
    study = Study.objects.get()
    assert answer["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{study.study_instance_uid}")
    assert "00081198" not in answer

    again = stow_post(client, stow_body(ct_bytes))
    assert again.status_code == 200  # idempotent: the same instances are not stored twice
    assert Instance.objects.count() == 3


@pytest.mark.django_db
def test_stow_with_some_failures_answers_202_with_a_reason_per_failed_instance(
    client: Client, coordinator: User, ct_bytes: list[bytes]
) -> None:
    truncated = ct_bytes[1][: len(ct_bytes[1]) // 2]
    response = stow_post(
        client_login(client, coordinator), stow_body([ct_bytes[0], truncated, b"not dicom"])
    )

    assert response.status_code == 202, response.content
    answer = response.json()
    assert len(answer["00081199"]["Value"]) == 1
    failed = answer["00081198"]["Value"]
    assert len(failed) == 2
    for item in failed:
        assert item["00081197"]["Value"][0] in (0x0110, 0xC000)
        assert item["00000902"]["Value"][0].startswith("rejected: ")
    assert Instance.objects.count() == 1


@pytest.mark.django_db
def test_stow_with_nothing_stored_answers_409(client: Client, coordinator: User) -> None:
    response = stow_post(
        client_login(client, coordinator), stow_body([b"garbage", b"more garbage"])
    )

    assert response.status_code == 409
    assert len(response.json()["00081198"]["Value"]) == 2
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_stow_to_a_study_url_refuses_instances_of_another_study(
    client: Client, coordinator: User, ct_bytes: list[bytes]
) -> None:
    sender_study = str(pydicom.dcmread(io.BytesIO(ct_bytes[0])).StudyInstanceUID)
    client_login(client, coordinator)

    wrong = stow_post(client, stow_body(ct_bytes[:1]), path="/dicomweb/studies/1.2.3.4")
    assert wrong.status_code == 409
    assert "another study" in wrong.json()["00081198"]["Value"][0]["00000902"]["Value"][0]

    right = stow_post(client, stow_body(ct_bytes[:1]), path=f"/dicomweb/studies/{sender_study}")
    assert right.status_code == 200
    assert Instance.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dicom", b"x", 415),
        ('multipart/related; type="application/dicom+xml"; boundary=b', b"x", 415),
        ('multipart/related; type="application/dicom"', b"--b\r\n\r\nx\r\n--b--", 400),
        (CONTENT_TYPE, b"no boundary in here", 400),
        (CONTENT_TYPE, f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nx".encode(), 400),
        (CONTENT_TYPE, f"--{BOUNDARY}--\r\n".encode(), 400),
    ],
)
def test_malformed_stow_requests_get_a_clear_4xx_and_store_nothing(
    client: Client, coordinator: User, content_type: str, body: bytes, status: int
) -> None:
    response = stow_post(client_login(client, coordinator), body, content_type=content_type)

    assert response.status_code == status
    assert response.json()["error"]
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_stow_refuses_a_body_over_the_limit_before_reading_it(
    client: Client, coordinator: User, ct_bytes: list[bytes]
) -> None:
    client_login(client, coordinator)
    with override_settings(SAGITTAL_MAX_UPLOAD_BYTES=1000):
        response = stow_post(client, stow_body(ct_bytes))
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    # A 2 GB claim is refused from its Content-Length alone, without sending the body.
    huge = stow_post(client, b"x", CONTENT_LENGTH=str(2 * 1024**3))
    assert huge.status_code == 413
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_a_part_of_another_type_fails_alone(
    client: Client, coordinator: User, ct_bytes: list[bytes]
) -> None:
    dicom_part = stow_body(ct_bytes[:1]).removesuffix(f"--{BOUNDARY}--\r\n".encode())
    text_part = stow_body([b"hello"], part_type="text/plain")
    response = stow_post(client_login(client, coordinator), dicom_part + text_part)

    assert response.status_code == 202
    reason = response.json()["00081198"]["Value"][0]["00000902"]["Value"][0]
    assert "text/plain" in reason
    assert Instance.objects.count() == 1


@pytest.mark.django_db
def test_readers_and_anonymous_cannot_store(
    client: Client, reader_a: User, ct_bytes: list[bytes]
) -> None:
    assert stow_post(client, stow_body(ct_bytes)).status_code in (401, 403)
    response = stow_post(client_login(client, reader_a), stow_body(ct_bytes))
    assert response.status_code == 403
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_stow_with_a_token_needs_no_csrf_and_a_session_post_needs_csrf(
    coordinator: User, ct_bytes: list[bytes]
) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=coordinator)
    strict = Client(enforce_csrf_checks=True)
    with_token = stow_post(strict, stow_body(ct_bytes[:1]), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert with_token.status_code == 200

    client_login(strict, coordinator)
    without_csrf = stow_post(strict, stow_body(ct_bytes[1:2]))
    assert without_csrf.status_code == 403
    assert Instance.objects.count() == 1
    assert json.loads(without_csrf.content)["detail"].startswith("CSRF")


@pytest.mark.django_db(transaction=True)
def test_the_dicomweb_client_library_stores_through_stow_on_the_live_server(
    live_server,  # type: ignore[no-untyped-def]
    coordinator: User,
    cervical_files: dict[str, list[Path]],
) -> None:
    from dicomweb_client.api import DICOMwebClient
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=coordinator)
    client = DICOMwebClient(
        url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Token {token.key}"}
    )
    datasets = [pydicom.dcmread(path) for path in cervical_files["MRI-T2"][:4]]

    answer = client.store_instances(datasets)

    assert len(answer.ReferencedSOPSequence) == 4
    assert "FailedSOPSequence" not in answer
    (study,) = client.search_for_studies()
    assert study["00201208"]["Value"] == [4]


@pytest.mark.django_db
def test_rfc2231_encoded_content_type_parameters_are_read_not_a_server_error(
    client: Client, coordinator: User, ct_bytes: list[bytes]
) -> None:
    """``type*=`` / ``boundary*=`` (RFC 2231) come back from the header parser as tuples."""
    client_login(client, coordinator)
    encoded = f"multipart/related; type*=UTF-8''application%2Fdicom; boundary*=UTF-8''{BOUNDARY}"
    response = stow_post(client, stow_body(ct_bytes[:1]), content_type=encoded)
    assert response.status_code == 200, response.content
    assert Instance.objects.count() == 1

    # A boundary outside ASCII (RFC 2046 bchars) is a malformed request, not a 500.
    for content_type in (
        "multipart/related; type=\"application/dicom\"; boundary*=UTF-8''%E2%82%AC",
        "multipart/related; type*=UTF-8''application%2Fdicom%2Bxml; boundary=b",
    ):
        refused = stow_post(client, "--€\r\n\r\nx\r\n--€--".encode(), content_type=content_type)
        assert refused.status_code in (400, 415), (content_type, refused.content)
        assert refused.json()["error"]
    assert Instance.objects.count() == 1
