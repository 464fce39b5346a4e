"""Text in any Specific Character Set survives ingest, storage and DICOMweb metadata.

The character sets and names come from pydicom's bundled test files (chrH31.dcm, chrX1.dcm ...,
the examples of PS3.5 Annex H/I/J/K); they are carried onto a phantom CT, because ingest takes
images of the modalities the platform reads, not those files' secondary captures.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import pydicom
import pytest
from django.test import Client
from pydicom.data import get_charset_files

from accounts.models import User
from cases.ingest import instance_ingest
from cases.models import Case, Instance, Series, SeriesRole, Study
from cases.storage import open_stored
from tests.conftest import client_login

# file -> what its names are written in; every set PS3.3 C.12.1.1.2 lists is among them.
BUNDLED = [
    "chrH31.dcm",  # \ISO 2022 IR 87 (Japanese kanji and kana, empty first value)
    "chrH32.dcm",  # ISO 2022 IR 13\ISO 2022 IR 87 (half-width katakana and kanji)
    "chrJapMultiExplicitIR6.dcm",  # ISO 2022 IR 6\ISO 2022 IR 87
    "chrX1.dcm",  # ISO_IR 192 (UTF-8)
    "chrX2.dcm",  # GB18030
    "chrI2.dcm",  # \ISO 2022 IR 149 (Korean)
    "chrFren.dcm",  # ISO_IR 100
    "chrGreek.dcm",  # ISO_IR 126
    "chrRuss.dcm",  # ISO_IR 144
    "chrArab.dcm",  # ISO_IR 127
    "chrHbrw.dcm",  # ISO_IR 138
]


def _bundled(name: str) -> pydicom.Dataset:
    (path,) = get_charset_files(name)
    return pydicom.dcmread(path)


def _ct_in(source: pydicom.Dataset, ct_path: Path) -> tuple[bytes, str]:
    """The phantom CT slice re-written in ``source``'s character set with its text."""
    ds = pydicom.dcmread(ct_path)
    ds.SpecificCharacterSet = source.SpecificCharacterSet
    text = str(source.PatientName).split("=")[-1].replace("^", " ")  # the last group: native
    ds.PatientName = source.PatientName
    ds.Manufacturer = text  # kept by de-identification: a vendor may well write its own name
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), text


@pytest.mark.django_db
@pytest.mark.parametrize("name", BUNDLED)
def test_text_in_each_character_set_is_stored_and_served_unchanged(
    name: str, cervical_files: dict[str, list[Path]], client: Client, coordinator: User
) -> None:
    source = _bundled(name)
    data, text = _ct_in(source, cervical_files["CT"][0])
    outcome = instance_ingest(data=data, role=SeriesRole.CT)
    assert outcome.status == "stored", outcome.reason
    instance = Instance.objects.select_related("series__study").get(
        sop_instance_uid=outcome.sop_instance_uid
    )
    with open_stored(instance.storage_key) as handle:
        stored = pydicom.dcmread(io.BytesIO(handle.read()))
    # The set is kept as written, and the bytes stored decode to the same text.
    assert stored.SpecificCharacterSet == source.SpecificCharacterSet
    assert stored.Manufacturer == text
    assert str(stored.PatientName) != str(source.PatientName)  # de-identified

    series = instance.series
    path = (
        f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
        f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}/metadata"
    )
    response = client_login(client, coordinator).get(path)
    assert response.status_code == 200
    (attributes,) = response.json()
    assert attributes["00080070"]["Value"] == [text]  # DICOM JSON is Unicode (PS3.18 F.2)
    charset = attributes["00080005"]["Value"]
    declared = source.SpecificCharacterSet
    assert charset == (list(declared) if not isinstance(declared, str) else [declared])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("StudyDescription=腰椎 CT", 1),
        ("StudyDescription=腰椎*", 1),
        ("StudyDescription=*\uff23\uff34", 0),  # full-width "CT": other characters
        ("StudyDescription=頸椎*", 0),
        ("SeriesDescription=矢状断*", 1),
    ],
)
def test_qido_matches_japanese_descriptions(
    client: Client, coordinator: User, imported_case: Case, query: str, expected: int
) -> None:
    # De-identification removes the descriptions a scanner writes (PS3.15 Basic Profile); these
    # rows stand for descriptions the platform keeps, e.g. ones a coordinator typed.
    study = Study.objects.get(case=imported_case, series__role=SeriesRole.CT)
    Study.objects.filter(pk=study.pk).update(description="腰椎 CT")
    Series.objects.filter(study=study, role=SeriesRole.CT).update(description="矢状断 再構成")
    level = "series" if query.startswith("Series") else "studies"
    key, _, value = query.partition("=")
    response = client_login(client, coordinator).get(
        f"/dicomweb/{level}?{key}={quote(value)}", HTTP_ACCEPT="application/dicom+json"
    )
    assert response.status_code == 200
    assert len(response.json()) == expected
