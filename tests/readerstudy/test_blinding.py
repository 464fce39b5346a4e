"""Blinding as a security property.

Logged in as a reader, a crawler follows every link and URL in the reader's pages and API
answers, down to the blinded DICOMweb metadata, frames, rendered images and whole instances, and
asserts that nothing names the image origin, the model, an original series description or UID,
a case label, a patient, a reference answer or another reader's answers.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import User
from cases.models import Case, Instance, Patient, Series, Study
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy, ReferenceSource, SlotPlacement
from tests.readerstudy.conftest import MODEL_NAME, MODEL_VERSION
from tests.readerstudy.test_services import SLIC_ANSWERS

OTHER_READER_NOTE = "reader-b-private-note-7731"
REFERENCE_PROVENANCE = "consensus-panel-provenance-5521"
INTRAOPERATIVE_NOTE = "intraoperative-note-9042"

_HTML_URL = re.compile(r"""(?:href|src|action)=["']([^"'#]+)["']""")


def _forbidden(extra: Iterable[str] = ()) -> list[str]:
    """Everything the study hides from readers, as it is stored."""
    words = [
        MODEL_NAME, MODEL_VERSION, "pseudo", "synthetic", "diffusion", "PHANTOM", "SECRETNAME",
        "LUMBARSECRET", "Synthetic spine phantom", "sagittal-phantoms", "RS-C1", "RS-L1",
        OTHER_READER_NOTE, REFERENCE_PROVENANCE, INTRAOPERATIVE_NOTE, "NC-CTM", "myelograph",
        "real MRI",
    ]  # fmt: skip
    words += list(Case.objects.values_list("label", flat=True))
    words += list(Patient.objects.values_list("pseudonym", flat=True))
    words += list(Study.objects.values_list("study_instance_uid", flat=True))
    for series in Series.objects.all():
        words += [series.series_instance_uid, series.description, series.frame_of_reference_uid]
    words += list(Instance.objects.values_list("sop_instance_uid", flat=True))
    words += list(extra)
    return [word for word in words if word]


def _links(text: str, content_type: str) -> set[str]:
    found: set[str] = set()
    if "html" in content_type:
        found |= set(_HTML_URL.findall(text))
        for script in re.findall(
            r'<script[^>]*type="application/json"[^>]*>(.*?)</script>', text, re.S
        ):
            found |= _json_links(json.loads(script))
    elif "json" in content_type:
        found |= _json_links(json.loads(text))
    return found


def _json_links(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= _json_links(item)
        root = value.get("dicomwebRoot")
        if isinstance(root, str):
            found.add(f"{root}/studies")
    elif isinstance(value, list):
        for item in value:
            found |= _json_links(item)
    elif isinstance(value, str) and (
        value.startswith("/") or value.startswith("http://testserver/")
    ):
        found.add(value)
    return found


def _dicomweb_children(path: str) -> list[str]:
    """The sub-resources a viewer requests below a DICOMweb RetrieveURL."""
    parts = path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "instances":
        return [f"{path}/metadata", f"{path}/frames/1", f"{path}/rendered", path]
    if len(parts) >= 2 and parts[-2] == "series":
        return [f"{path}/instances", f"{path}/metadata"]
    if len(parts) >= 2 and parts[-2] == "studies":
        return [f"{path}/series", f"{path}/instances", f"{path}/metadata"]
    return []


def _accept(path: str) -> str:
    """What a viewer asks for at this DICOMweb path."""
    if "/dicomweb/" not in path:
        return "*/*"
    if ("/frames/" in path and not path.endswith("/rendered")) or "/bulkdata/" in path:
        return 'multipart/related; type="application/octet-stream"'
    if path.endswith("/rendered"):
        return "image/png"
    if path.rstrip("/").split("/")[-2] == "instances":
        return 'multipart/related; type="application/dicom"'
    return "application/dicom+json"


def _is_whole_retrieve(path: str) -> bool:
    """A study or series retrieval: not served under the blinded prefix (original headers)."""
    parts = path.rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2] in ("studies", "series")


def crawl(client: Client, start: Iterable[str], forbidden: list[str]) -> dict[str, int]:
    """GET everything reachable on this site from ``start``; assert no response leaks."""
    queue = deque(start)
    seen: dict[str, int] = {}
    lowered = [(word, word.lower().encode()) for word in forbidden]
    while queue:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc not in ("", "testserver"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path in seen or path.startswith(("/static/", "/accounts/logout", "/api/docs", "/admin")):
            continue
        accept = _accept(parts.path)
        response = client.get(path, HTTP_ACCEPT=accept)
        seen[path] = response.status_code
        assert response.status_code < 500, f"{path} answered {response.status_code}"
        if response.status_code in (301, 302):
            queue.append(response["Location"])
            continue
        body = b"".join(response.streaming_content) if response.streaming else response.content
        haystack = body.lower()
        for word, needle in lowered:
            assert needle not in haystack, f"{path} reveals {word!r}"
        if response.status_code != 200:
            continue
        content_type = response.get("Content-Type", "")
        if "html" in content_type or "json" in content_type:
            for link in _links(body.decode(), content_type):
                queue.append(link)
                for child in (
                    _dicomweb_children(urlsplit(link).path) if "/dicomweb/" in link else []
                ):
                    queue.append(child)
            if "dicom+json" in content_type:
                for item in json.loads(body):
                    for element in item.values():
                        uri = element.get("BulkDataURI") if isinstance(element, dict) else None
                        if uri:
                            queue.append(uri)
    return seen


def _assignment(study: ReaderStudy, reader: User, order: int = 1) -> ReaderAssignment:
    return ReaderAssignment.objects.get(session__study=study, session__order=order, reader=reader)


def _submit_all(study: ReaderStudy, reader: User, answers: dict[str, Any], order: int = 1) -> None:
    assignment = _assignment(study, reader, order)
    for position in range(1, len(assignment.case_order) + 1):
        reading, _ = services.reading_open(actor=reader, assignment=assignment, position=position)
        assert reading is not None
        services.reading_submit(
            actor=reader, reading=reading, version=reading.version, answers=answers
        )


@pytest.mark.django_db
def test_a_slic_reader_sees_nothing_the_study_hides(
    client: Client,
    slic_study: ReaderStudy,
    coordinator: User,
    reader_a: User,
    reader_b: User,
) -> None:
    # Reader B answers first, with a note reader A must never see; a consensus reference
    # exists with a provenance reader A must never see.
    services.study_status_set(actor=coordinator, study=slic_study, status="closed")
    slic_study.status = "draft"
    slic_study.save(update_fields=["status"])
    services.question_create(
        actor=coordinator, study=slic_study, key="notes", type="text", label="Notes", required=False
    )
    services.study_status_set(actor=coordinator, study=slic_study, status="active")
    _submit_all(slic_study, reader_b, {**SLIC_ANSWERS, "notes": OTHER_READER_NOTE})
    study_case = slic_study.study_cases.first()
    assert study_case is not None
    services.reference_set(
        actor=coordinator,
        study_case=study_case,
        source=ReferenceSource.CONSENSUS,
        question=slic_study.questions.get(key="disc_injury"),
        values={"value": True},
        provenance=REFERENCE_PROVENANCE,
    )
    client.force_login(reader_a)
    forbidden = _forbidden()
    start = ["/", "/reading/", "/api/v1/reading/assignments/"]

    # While reading case 1: the open case's answers and images.
    assignment = _assignment(slic_study, reader_a)
    opened = client.post(f"/api/v1/reading/assignments/{assignment.pk}/cases/1/open/")
    assert opened.status_code == 200
    assert opened.json()["title"] == "Case 1 of 3"
    seen = crawl(client, [*start, *_json_links(opened.json())], forbidden)
    blinded = [path for path in seen if path.startswith(f"/reading/dicomweb/{assignment.pk}/")]
    assert any(path.endswith("/metadata") for path in blinded)
    assert any("/frames/1" in path for path in blinded)
    assert any(path.endswith("/rendered") for path in blinded)
    failed = {p: seen[p] for p in blinded if seen[p] != 200 and not _is_whole_retrieve(p)}
    assert not failed

    # Having read every case: all three blinded studies are reachable, still nothing leaks.
    _submit_all(slic_study, reader_a, SLIC_ANSWERS)
    seen = crawl(client, start, forbidden)
    studies = client.get(
        f"/reading/dicomweb/{assignment.pk}/studies", HTTP_ACCEPT="application/dicom+json"
    )
    assert len(studies.json()) == 3
    failed = {
        path: code
        for path, code in seen.items()
        if "/dicomweb/" in path and code != 200 and not _is_whole_retrieve(path)
    }
    assert not failed


@pytest.mark.django_db
def test_the_surgeon_sees_a_and_b_without_their_origin(
    client: Client, ncctm_study: ReaderStudy, surgeon: User, coordinator: User
) -> None:
    study_case = ncctm_study.study_cases.first()
    assert study_case is not None
    services.reference_set(
        actor=coordinator,
        study_case=study_case,
        source=ReferenceSource.INTRAOPERATIVE,
        values={
            "findings": [
                {"level": "L4/5", "side": "left", "dural_canal": "severe", "nerve_root": "mild"}
            ],
            "notes": INTRAOPERATIVE_NOTE,
        },
    )
    client.force_login(surgeon)
    assignment = _assignment(ncctm_study, surgeon)
    opened = client.post(f"/api/v1/reading/assignments/{assignment.pk}/cases/1/open/").json()
    assert [v["label"] for v in opened["viewer"]["viewports"]] == ["A", "B"]
    assert {v["type"] for v in opened["viewer"]["viewports"]} == {"volume3d"}
    seen = crawl(client, ["/reading/", *_json_links(opened)], _forbidden(["DECT", "Qr40d"]))
    instances = [p for p in seen if "/instances/" in p and p.count("/") == 10]
    overlay = next(v["overlay"]["seriesUid"] for v in opened["viewer"]["viewports"] if v["overlay"])
    # A binary SEG has no rendering (1-bit frames): 400, as on the plain DICOMweb root.
    failed = {
        p: seen[p]
        for p in instances
        if seen[p] != 200 and not (overlay in p and p.endswith("/rendered") and seen[p] == 400)
    }
    assert instances and not failed


@pytest.mark.django_db
def test_blinded_headers_keep_geometry_and_sync_but_remap_every_uid(
    client: Client, slic_study: ReaderStudy, reader_a: User, reader_b: User
) -> None:
    client.force_login(reader_a)
    assignment = _assignment(slic_study, reader_a)
    viewer = client.post(f"/api/v1/reading/assignments/{assignment.pk}/cases/1/open/").json()[
        "viewer"
    ]
    ct, mri = viewer["viewports"]
    assert (ct["label"], mri["label"]) == ("CT", "MRI")
    assert ct["studyUid"] == mri["studyUid"]
    root = viewer["dicomwebRoot"]
    metadata = {}
    for viewport in (ct, mri):
        response = client.get(
            f"{root}/studies/{viewport['studyUid']}/series/{viewport['seriesUid']}/metadata"
        )
        assert response.status_code == 200
        metadata[viewport["label"]] = response.json()
    frame_of_reference = {
        item["00200052"]["Value"][0] for items in metadata.values() for item in items
    }
    assert len(frame_of_reference) == 1  # CT and MRI still share a frame of reference
    pseudo = metadata["MRI"][0]
    assert pseudo["0008103E"]["Value"] == ["MRI"]
    assert pseudo["00080060"]["Value"] == ["MR"]
    assert pseudo["00100010"]["Value"] == [{"Alphabetic": "Case 1"}]
    for absent in (
        "00080008",
        "00080070",
        "00081090",
        "00181020",
        "00082111",
        "00189506",
        "00080021",
    ):
        assert absent not in pseudo, absent
    assert not any(int(tag[:4], 16) % 2 for tag in pseudo)  # no private tags
    positions = [item["00200032"]["Value"] for item in metadata["CT"]]
    assert len({tuple(p) for p in positions}) == len(positions)
    assert metadata["CT"][0]["00280030"]["Value"]  # pixel spacing survives
    uri = pseudo["7FE00010"]["BulkDataURI"]
    assert uri.startswith(
        f"http://testserver{root}/studies/{mri['studyUid']}/series/{mri['seriesUid']}/"
    )

    # Frames are the stored pixels, byte for byte.
    sop = pseudo["00080018"]["Value"][0]
    placement = SlotPlacement.objects.get(blinded_series_uid=mri["seriesUid"])
    index = int(sop.rsplit(".", 1)[1])
    stored = placement.series.instances.order_by("instance_number", "sop_instance_uid")[index - 1]
    frame = client.get(
        f"{root}/studies/{mri['studyUid']}/series/{mri['seriesUid']}/instances/{sop}/frames/1"
    )
    assert frame.status_code == 200
    assert stored.frame_lengths[0] > 0
    assert len(frame.content) > stored.frame_lengths[0]

    # Another reader sees the same images under other UIDs.
    client.force_login(reader_b)
    other_assignment = _assignment(slic_study, reader_b)
    other = client.post(f"/api/v1/reading/assignments/{other_assignment.pk}/cases/1/open/").json()
    other_uids = {v["seriesUid"] for v in other["viewer"]["viewports"]}
    assert not other_uids & {ct["seriesUid"], mri["seriesUid"]}


@pytest.mark.django_db
def test_the_overlay_segmentation_references_the_blinded_images(
    client: Client, ncctm_study: ReaderStudy, surgeon: User
) -> None:
    client.force_login(surgeon)
    assignment = _assignment(ncctm_study, surgeon)
    viewer = client.post(f"/api/v1/reading/assignments/{assignment.pk}/cases/1/open/").json()[
        "viewer"
    ]
    (with_overlay,) = [v for v in viewer["viewports"] if v["overlay"]]
    root, study = viewer["dicomwebRoot"], with_overlay["studyUid"]
    images = client.get(
        f"{root}/studies/{study}/series/{with_overlay['seriesUid']}/metadata"
    ).json()
    image_uids = {item["00080018"]["Value"][0] for item in images}
    seg = client.get(
        f"{root}/studies/{study}/series/{with_overlay['overlay']['seriesUid']}/metadata"
    )
    assert seg.status_code == 200
    (segmentation,) = seg.json()
    referenced = {
        source["00081155"]["Value"][0]
        for frame in segmentation["52009230"]["Value"]
        for derivation in frame.get("00089124", {}).get("Value", [])
        for source in derivation.get("00082112", {}).get("Value", [])
    }
    assert referenced and referenced <= image_uids
    assert segmentation["00620002"]["Value"][0].get("00620009") is None  # no algorithm name
    # The whole SEG instance (the viewer reads overlays that way) is rebuilt blinded.
    sop = segmentation["00080018"]["Value"][0]
    part10 = client.get(
        f"{root}/studies/{study}/series/{with_overlay['overlay']['seriesUid']}/instances/{sop}",
        HTTP_ACCEPT='multipart/related; type="application/dicom"',
    )
    assert part10.status_code == 200
    assert b"DICM" in part10.content
    for original in Instance.objects.values_list("sop_instance_uid", flat=True):
        assert original.encode() not in part10.content


@pytest.mark.django_db
def test_blinded_dicomweb_follows_the_reading_rules(
    client: Client, slic_study: ReaderStudy, reader_a: User, reader_b: User, coordinator: User
) -> None:
    assignment = _assignment(slic_study, reader_a)
    placements = SlotPlacement.objects.filter(assignment=assignment)
    first_case = placements.get(study_case_id=assignment.case_order[0], slot="CT")
    later_case = placements.get(study_case_id=assignment.case_order[2], slot="CT")
    root = f"/reading/dicomweb/{assignment.pk}"
    client.force_login(reader_a)

    def series(placement: SlotPlacement) -> int:
        study, series = placement.blinded_study_uid, placement.blinded_series_uid
        return client.get(f"{root}/studies/{study}/series/{series}/metadata").status_code

    assert series(first_case) == 200
    assert series(later_case) == 404  # no looking ahead in the reading order
    # Session 2 images stay hidden until the washout ends.
    session2 = _assignment(slic_study, reader_a, 2)
    assert client.get(f"/reading/dicomweb/{session2.pk}/studies").status_code == 404
    # Whole series retrieval (original headers) is not served under the blinded prefix.
    url = f"{root}/studies/{first_case.blinded_study_uid}/series/{first_case.blinded_series_uid}"
    assert client.get(url).status_code == 404
    # Another reader, the coordinator and anonymous users get nothing.
    for user in (reader_b, coordinator):
        client.force_login(user)
        assert series(first_case) == 404
    client.logout()
    assert series(first_case) in (401, 403)
    # Readers get nothing from the plain DICOMweb root either.
    client.force_login(reader_a)
    original = first_case.series
    plain = f"/dicomweb/studies/{original.study.study_instance_uid}/series"
    assert client.get(f"{plain}/{original.series_instance_uid}/metadata").status_code == 404
    # A closed study closes the images too.
    services.study_status_set(actor=coordinator, study=slic_study, status="closed")
    assert series(first_case) == 404


@pytest.mark.django_db
def test_a_query_key_with_a_line_break_is_named_in_the_warning_not_a_server_error(
    client: Client, slic_study: ReaderStudy, reader_a: User, coordinator: User
) -> None:
    # Probed in issue 16: a key holding a newline broke the Warning header (500), on the plain
    # and the blinded prefix alike.
    blinded = f"/reading/dicomweb/{_assignment(slic_study, reader_a).pk}/studies"
    for user, path in ((reader_a, blinded), (coordinator, "/dicomweb/studies")):
        client.force_login(user)
        response = client.get(f'{path}?Patient%0AName=x&Evil"Key=1&日本=1')
        assert response.status_code == 200, (path, response.status_code)
        warning = response["Warning"]
        assert "\n" not in warning and warning.isascii()
        assert "Patient\\nName" in warning and 'Evil\\"Key' in warning
        assert "\\u65e5\\u672c" in warning
