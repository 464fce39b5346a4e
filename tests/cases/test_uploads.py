"""Browser upload door: files, folders and ZIP archives through the uploads API and pages."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.utils import override_settings

from accounts.models import User
from cases.models import Case, Instance, Study
from tests.conftest import client_login


def _zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _upload(client: Client, files: dict[str, bytes]):  # type: ignore[no-untyped-def]
    payload = [SimpleUploadedFile(name, data) for name, data in files.items()]
    return client.post("/api/v1/uploads/", {"files": payload})


@pytest.mark.django_db
def test_files_and_a_zip_are_ingested_with_one_report_line_each(
    client: Client, coordinator: User, cervical_files: dict[str, list[Path]]
) -> None:
    ct = [path.read_bytes() for path in cervical_files["CT"][:4]]
    archive = _zip(
        {
            "export/IMG0002": ct[2],
            "../../etc/passwd": ct[3],  # a hostile name is only a label in the report
            "DICOMDIR": b"index",
            "nested.zip": _zip({"a.dcm": ct[0]}),
            "notes.txt": b"not an image",
        }
    )

    response = _upload(
        client_login(client, coordinator), {"a.dcm": ct[0], "b.dcm": ct[1], "s.zip": archive}
    )

    assert response.status_code == 200, response.content
    report = response.json()
    statuses = {line["name"]: line["status"] for line in report["files"]}
    assert statuses == {
        "a.dcm": "stored",
        "b.dcm": "stored",
        "s.zip/export/IMG0002": "stored",
        "s.zip/../../etc/passwd": "stored",
        "s.zip/nested.zip": "rejected",
        "s.zip/notes.txt": "rejected",
    }
    reasons = {line["name"]: line["reason"] for line in report["files"]}
    assert "archives inside archives" in reasons["s.zip/nested.zip"]
    assert "not a readable DICOM" in reasons["s.zip/notes.txt"]
    assert (report["stored"], report["rejected"]) == (4, 2)
    assert Instance.objects.count() == 4
    # Uploaded studies wait for a coordinator to make a case of them.
    assert Study.objects.filter(case__isnull=True).count() == 1


@pytest.mark.django_db
def test_a_zip_bomb_is_refused_before_extraction_and_stores_nothing(
    client: Client, coordinator: User, cervical_files: dict[str, list[Path]]
) -> None:
    client_login(client, coordinator)
    good = cervical_files["CT"][0].read_bytes()
    bomb = _zip({"zeros.dcm": b"\x00" * (8 * 1024 * 1024)})
    assert len(bomb) < 64 * 1024  # tiny on the wire, 8 MiB inflated

    with override_settings(SAGITTAL_ZIP_MAX_UNCOMPRESSED_BYTES=4 * 1024 * 1024):
        response = _upload(client, {"good.dcm": good, "bomb.zip": bomb})

    assert response.status_code == 413
    assert "expands to" in response.json()["detail"]
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_an_archive_with_too_many_entries_is_refused(client: Client, coordinator: User) -> None:
    archive = _zip({f"f{index}": b"x" for index in range(30)}, compression=zipfile.ZIP_STORED)
    with override_settings(SAGITTAL_ZIP_MAX_ENTRIES=20):
        response = _upload(client_login(client, coordinator), {"many.zip": archive})
    assert response.status_code == 413
    assert "30 files" in response.json()["detail"]


@pytest.mark.django_db
def test_a_broken_zip_is_reported_not_crashed_on(client: Client, coordinator: User) -> None:
    truncated = _zip({"a.dcm": b"x" * 1000})[:40]
    response = _upload(client_login(client, coordinator), {"broken.zip": truncated})
    assert response.status_code == 200
    (line,) = response.json()["files"]
    assert line["status"] == "rejected"
    assert "ZIP" in line["reason"]


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused_from_its_header(
    client: Client, coordinator: User
) -> None:
    client_login(client, coordinator)
    with override_settings(SAGITTAL_MAX_UPLOAD_BYTES=100):
        response = _upload(client, {"big.dcm": b"x" * 1000})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    huge = client.generic(
        "POST",
        "/api/v1/uploads/",
        b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(2 * 1024**3),
    )
    assert huge.status_code == 413


@pytest.mark.django_db
def test_upload_without_files_is_a_400(client: Client, coordinator: User) -> None:
    response = client_login(client, coordinator).post("/api/v1/uploads/", {})
    assert response.status_code == 400


@pytest.mark.django_db
def test_readers_cannot_upload(
    client: Client, reader_a: User, cervical_files: dict[str, list[Path]]
) -> None:
    response = _upload(
        client_login(client, reader_a), {"a.dcm": cervical_files["CT"][0].read_bytes()}
    )
    assert response.status_code == 403
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_coordinator_pages_list_show_create_edit_and_delete_cases(
    client: Client, coordinator: User, imported_case: Case
) -> None:
    client_login(client, coordinator)
    listing = client.get("/cases/?q=TEST")
    assert listing.status_code == 200
    assert b'data-case="TEST-001"' in listing.content
    assert b"/rendered?viewport=128" in listing.content
    assert b"TEST-001" not in client.get("/cases/?q=zzz").content

    detail = client.get(f"/cases/{imported_case.pk}/")
    assert detail.status_code == 200
    assert detail.content.count(b"data-series=") == 2

    edited = client.post(
        f"/cases/{imported_case.pk}/edit/",
        {"label": "TEST-001", "region": "cervical", "levels": "C4-C6", "clinical_notes": ""},
    )
    assert edited.status_code == 302
    assert Case.objects.get().levels == "C4-C6"

    refused = client.post(f"/cases/{imported_case.pk}/delete/", {"confirm_label": "wrong"})
    assert refused.status_code == 302 and Case.objects.exists()
    client.post(f"/cases/{imported_case.pk}/delete/", {"confirm_label": "TEST-001"})
    assert not Case.objects.exists()

    assert client.get("/cases/upload/").status_code == 200


@pytest.mark.django_db
def test_new_case_page_makes_a_case_of_uploaded_studies(
    client: Client, coordinator: User, cervical_files: dict[str, list[Path]]
) -> None:
    _upload(client_login(client, coordinator), {"a.dcm": cervical_files["CT"][0].read_bytes()})
    study = Study.objects.get()
    page = client.get("/cases/new/")
    assert study.study_instance_uid.encode() in page.content

    response = client.post(
        "/cases/new/",
        {"label": "UP-1", "region": "cervical", "studies": [study.study_instance_uid]},
    )

    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    forged = client.post("/cases/new/", {"label": "UP-2", "region": "cervical", "studies": ["9.9"]})
    assert forged.status_code == 200 and b"Choose one or more" in forged.content
    assert Case.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reader_a", "outsider"])
def test_coordinator_pages_are_closed_to_others(
    client: Client, persona: str, imported_case: Case, request: pytest.FixtureRequest
) -> None:
    client_login(client, request.getfixturevalue(persona))
    for path in ("/cases/", f"/cases/{imported_case.pk}/", "/cases/new/", "/cases/upload/"):
        assert client.get(path).status_code == 403
    assert (
        client.post(f"/cases/{imported_case.pk}/delete/", {"confirm_label": "TEST-001"}).status_code
        == 403
    )
    assert Case.objects.exists()
    anonymous = Client().get("/cases/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


@pytest.mark.django_db
def test_the_upload_report_gives_reasons_in_the_coordinators_language(
    client: Client, coordinator: User, cervical_files: dict[str, list[Path]]
) -> None:
    ct = cervical_files["CT"][0].read_bytes()
    truncated = ct[: len(ct) - 100]  # the header promises more pixel data than the file holds
    archive = _zip({"nested.zip": _zip({"a.dcm": ct}), "notes.txt": b"not an image"})
    client_login(client, coordinator)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    report = _upload(client, {"cut.dcm": truncated, "s.zip": archive}).json()
    reasons = {line["name"]: line["reason"] for line in report["files"]}
    assert reasons["s.zip/nested.zip"] == "アーカイブ内のアーカイブは開きません"
    assert reasons["s.zip/notes.txt"].startswith(
        "読み取れる DICOM Part-10 ファイルではありません："
    )
    # The values of the reason (byte counts) are filled into the Japanese text.
    assert re.fullmatch(
        r"画素データは \d+ バイトですが、ヘッダーの記述は \d+ バイトです", reasons["cut.dcm"]
    ), reasons["cut.dcm"]
