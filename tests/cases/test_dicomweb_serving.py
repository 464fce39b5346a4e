"""The serving path of DICOMweb: the frames fast path, cached frame sources and metadata bodies.

The fast path (``cases.dicomweb_fast``) answers frame requests only in a request context that
Django itself has just answered 200 for the same study; whatever it cannot answer exactly as
Django would goes to Django. What it caches must never widen access: a grant belongs to one
credential and one study, it expires, and a study deleted after the grant answers 404.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.urls import reverse
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import RLELossless
from pytest_django.fixtures import DjangoAssertNumQueries, Settings
from rest_framework.authtoken.models import Token

from accounts.models import User
from cases import dicomweb_cache, frames
from cases.dicomweb_fast import FRAMES_PATH, FramesFastPath
from cases.ingest import instance_ingest
from cases.models import Case, Instance, Series, SeriesRole
from cases.services import case_delete

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def frame(self) -> bytes:
        header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.message_from_bytes(header + self.body, policy=email.policy.HTTP)
        (part,) = message.iter_parts()
        payload: bytes = part.get_payload(decode=True)
        return payload


Serve = Callable[..., Answer]


def _call(app: Any, path: str, **headers: str) -> Answer:
    environ = RequestFactory().get(path, **headers).environ
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started.update(status=int(status.split()[0]), headers=dict(response_headers))

    chunks: Iterable[bytes] = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Answer(started["status"], started["headers"], body)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Requests through the production WSGI stack: the fast path in front of Django."""
    dicomweb_cache.clear()
    # As Django's test client does: the test's transaction must survive the request signals.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    app = FramesFastPath(WSGIHandler())
    try:
        yield lambda path, **headers: _call(app, path, **headers)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        dicomweb_cache.clear()


def _ct(case: Case) -> Series:
    return Series.objects.get(study__case=case, role=SeriesRole.CT)


def _frame_url(series: Series, instance: Instance, frame: str = "1") -> str:
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
        f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}/frames/{frame}"
    )


def _token_headers(user: User) -> dict[str, str]:
    token = Token.objects.create(user=user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}", "HTTP_ACCEPT": FRAME_ACCEPT}


def _without_boundary(headers: dict[str, str]) -> dict[str, str]:
    content_type = headers["Content-Type"].rsplit("; boundary=", 1)[0]
    return {**headers, "Content-Type": content_type}


def test_the_fast_path_matches_the_frames_route() -> None:
    path = reverse(
        "wado-frames",
        kwargs={
            "study_uid": "1.2",
            "series_uid": "1.2.3",
            "sop_uid": "1.2.3.4",
            "frame_list": "1,2",
        },
    )
    assert FRAMES_PATH.fullmatch(path)


@pytest.mark.django_db
def test_repeated_frames_are_answered_without_django_exactly_as_django_did(
    serve: Serve,
    coordinator: User,
    imported_case: Case,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    series = _ct(imported_case)
    instances = list(series.instances.order_by("instance_number"))
    headers = _token_headers(coordinator)
    by_django = [serve(_frame_url(series, i), **headers) for i in instances]
    assert [answer.status for answer in by_django] == [200] * len(instances)
    with django_assert_num_queries(0):
        fast = [serve(_frame_url(series, i), **headers) for i in instances]
    assert [answer.frame() for answer in fast] == [answer.frame() for answer in by_django]
    assert len({answer.frame() for answer in fast}) == len(instances)
    assert all(len(answer.frame()) == 64 * 64 * 2 for answer in fast)
    assert _without_boundary(fast[0].headers) == _without_boundary(by_django[0].headers)
    assert fast[0].headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_a_browser_session_gets_the_fast_path_too(
    serve: Serve,
    client: Client,
    coordinator: User,
    imported_case: Case,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    client.force_login(coordinator)
    cookie = "; ".join(f"{key}={morsel.coded_value}" for key, morsel in client.cookies.items())
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    url = _frame_url(series, instance)
    first = serve(url, HTTP_COOKIE=cookie, HTTP_ACCEPT=FRAME_ACCEPT)
    assert first.status == 200
    with django_assert_num_queries(0):
        again = serve(url, HTTP_COOKIE=cookie, HTTP_ACCEPT=FRAME_ACCEPT)
    assert again.frame() == first.frame()
    assert again.headers["Vary"] == first.headers["Vary"]


@pytest.mark.django_db
def test_any_other_request_context_is_decided_by_django(
    serve: Serve, coordinator: User, outsider: User, imported_case: Case
) -> None:
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    url = _frame_url(series, instance)
    headers = _token_headers(coordinator)
    assert serve(url, **headers).status == 200  # leaves a grant for this context

    assert serve(url, **_token_headers(outsider)).status == 404
    assert serve(url, HTTP_ACCEPT=FRAME_ACCEPT).status == 401
    jpeg = 'multipart/related; type="image/jpeg"'
    assert serve(url, **{**headers, "HTTP_ACCEPT": jpeg}).status == 406
    assert serve(url, **{**headers, "HTTP_HOST": "evil.example"}).status == 400
    assert serve(_frame_url(series, instance, "2"), **headers).status == 400  # single frame
    assert serve(_frame_url(series, instance, "0"), **headers).status == 400
    assert serve(_frame_url(series, instance, "x"), **headers).status == 400
    # The same study's UIDs with another study's series: not an instance Django ever served.
    other = Series.objects.exclude(pk=series.pk).get(study=series.study)
    assert serve(_frame_url(other, instance), **headers).status == 404
    assert serve(url, **headers).status == 200


@pytest.mark.django_db
def test_a_revoked_role_stops_frames_when_the_grant_expires(
    serve: Serve, coordinator: User, imported_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    url, headers = _frame_url(series, instance), _token_headers(coordinator)
    assert serve(url, **headers).status == 200
    coordinator.groups.clear()
    # Within the grant's lifetime the answer is the granted one (the documented window) ...
    assert serve(url, **headers).status == 200
    # ... and once it has passed, Django checks again and refuses.
    import cases.dicomweb_fast as fast

    now = fast.time.monotonic()
    monkeypatch.setattr(fast.time, "monotonic", lambda: now + 3600)
    assert serve(url, **headers).status == 404


@pytest.mark.django_db
def test_without_grants_every_frame_request_is_decided_by_django(
    serve: Serve, coordinator: User, imported_case: Case, settings: Settings
) -> None:
    settings.DICOMWEB_ACCESS_CACHE_SECONDS = 0
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    url, headers = _frame_url(series, instance), _token_headers(coordinator)
    assert serve(url, **headers).status == 200
    coordinator.groups.clear()
    assert serve(url, **headers).status == 404


@pytest.mark.django_db
def test_frames_of_a_case_deleted_after_the_grant_are_404(
    serve: Serve,
    coordinator: User,
    imported_case: Case,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    series = _ct(imported_case)
    instances = list(series.instances.order_by("instance_number")[:2])
    urls = [_frame_url(series, instance) for instance in instances]
    headers = _token_headers(coordinator)
    assert serve(urls[0], **headers).status == 200  # grant, and this instance's source
    with django_capture_on_commit_callbacks(execute=True):
        case_delete(actor=coordinator, case=imported_case)  # rows, then the stored files
    assert serve(urls[0], **headers).status == 404  # source cached, file gone
    assert serve(urls[1], **headers).status == 404  # never served: Django finds no row


@pytest.mark.django_db
def test_cookies_and_connection_headers_are_never_replayed(
    coordinator: User, imported_case: Case
) -> None:
    series = _ct(imported_case)
    instance = series.instances.order_by("instance_number").first()
    assert instance is not None
    url = _frame_url(series, instance)
    calls = []

    def django_stand_in(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response(
            "200 OK",
            [
                ("Content-Type", "multipart/related; boundary=x"),
                ("Content-Length", "0"),
                ("Set-Cookie", "sessionid=new"),
                ("Connection", "close"),
                ("X-Frame-Options", "DENY"),
            ],
        )
        return [b""]

    dicomweb_cache.clear()
    dicomweb_cache.frame_sources.put(
        (series.study.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid),
        frames.frame_source(instance),
    )
    app = FramesFastPath(django_stand_in)
    headers = {"HTTP_AUTHORIZATION": "Token abc", "HTTP_ACCEPT": FRAME_ACCEPT}
    _call(app, url, **headers)
    answer = _call(app, url, **headers)
    dicomweb_cache.clear()
    assert calls == [url]
    assert answer.status == 200
    assert "Set-Cookie" not in answer.headers and "Connection" not in answer.headers
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.frame() == frames.read_frames(instance, [1])[0]


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


def _compressed_upload(path: Path, *, fragments_per_frame: int = 1) -> tuple[bytes, list[bytes]]:
    """A two-frame RLE instance made from ``path`` (the second frame reversed) and its frames."""
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    (first,) = generate_frames(ds.PixelData, number_of_frames=1)
    second = first[:-2] + b"\x00\x00"  # distinguishable, the same length
    ds.PixelData = encapsulate([first, second], fragments_per_frame=fragments_per_frame)
    ds.NumberOfFrames = 2
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), [first, second]


def _parts(answer: Answer) -> list[tuple[str, bytes]]:
    """Each part's Content-Type header exactly as sent, and its body."""
    boundary = answer.headers["Content-Type"].rsplit("boundary=", 1)[1].encode()
    parts = []
    for chunk in answer.body.split(b"--" + boundary)[1:-1]:
        head, _, body = chunk.partition(b"\r\n\r\n")
        (content_type,) = [
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-type:")
        ]
        parts.append((content_type, body[: -len(b"\r\n")]))
    return parts


@pytest.mark.django_db
@pytest.mark.parametrize("fragments_per_frame", [1, 3])
def test_compressed_frames_are_sent_as_stored_with_their_transfer_syntax(
    serve: Serve,
    coordinator: User,
    cervical_files: dict[str, list[Path]],
    fragments_per_frame: int,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    data, sent = _compressed_upload(
        cervical_files["CT"][4], fragments_per_frame=fragments_per_frame
    )
    outcome = instance_ingest(data=data)
    assert outcome.status == "stored", outcome.reason
    url = (
        f"/dicomweb/studies/{outcome.study_instance_uid}/series/{outcome.series_instance_uid}"
        f"/instances/{outcome.sop_instance_uid}/frames/1,2"
    )
    headers = _token_headers(coordinator)
    stored = serve(url, **headers)  # transfer-syntax=*: as stored
    assert stored.status == 200
    octet = f"application/octet-stream; transfer-syntax={RLELossless}"
    assert _parts(stored) == [(octet, sent[0]), (octet, sent[1])]
    with django_assert_num_queries(0):
        assert _parts(serve(url, **headers)) == _parts(stored)  # the fast path agrees

    rle = f'multipart/related; type="image/x-dicom-rle"; transfer-syntax={RLELossless}'
    own = serve(url, **{**headers, "HTTP_ACCEPT": rle})
    assert [part_type for part_type, _ in _parts(own)] == [
        f"image/x-dicom-rle; transfer-syntax={RLELossless}"
    ] * 2
    native = frames.EXPLICIT_VR_LITTLE_ENDIAN
    uncompressed = f'multipart/related; type="application/octet-stream"; transfer-syntax={native}'
    assert serve(url, **{**headers, "HTTP_ACCEPT": uncompressed}).status == 406
    png = serve(url.replace("/frames/1,2", "/frames/2/rendered"), **headers)
    assert png.status == 200
    assert png.body[:8] == b"\x89PNG\r\n\x1a\n"


def test_frame_part_types_follow_the_accept_header() -> None:
    native, rle = frames.EXPLICIT_VR_LITTLE_ENDIAN, RLELossless
    octet = f"application/octet-stream; transfer-syntax={native}"
    assert frames.frame_part_type("", native) == octet
    assert frames.frame_part_type("*/*", frames.IMPLICIT_VR_LITTLE_ENDIAN) == octet
    assert frames.frame_part_type('multipart/related; type="application/octet-stream"', native)
    assert frames.frame_part_type('multipart/related; type="image/jpeg"', native) is None
    assert frames.frame_part_type("application/json", native) is None
    default_octet = 'multipart/related; type="application/octet-stream"'
    assert frames.frame_part_type(default_octet, rle) is None  # would need decoding
    assert frames.frame_part_type(f"{default_octet}; transfer-syntax={rle}", rle) == (
        f"application/octet-stream; transfer-syntax={rle}"
    )
    assert frames.frame_part_type('multipart/related; type="image/x-dicom-rle"', rle) == (
        f"image/x-dicom-rle; transfer-syntax={rle}"
    )
    assert frames.frame_part_type("", rle) == f"image/x-dicom-rle; transfer-syntax={rle}"
