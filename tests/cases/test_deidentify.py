"""De-identification core (PS3.15 Annex E Basic Profile + Retain Longitudinal Modified Dates).

No database: the module under test has no Django dependency.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.datadict import DicomDictionary, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

from cases.deidentify import (
    ANNEX_E_EDITION,
    DeidResult,
    basic_profile_code,
    burned_in_annotation_suspected,
    date_offset_for_patient,
    deidentify,
    patient_identity,
    patient_pseudonym,
    remap_uid,
)

SECRET = b"test-secret-0123456789abcdef-XYZ"
OTHER_SECRET = b"another-secret-0123456789abcdef!"
UID_ROOT = "1.2.826.0.1.3680043.8.498.7731."

PATIENT_ID = "MRN-8841772"
ISSUER = "ELSEWHERE-HOSP"

# Every identifying value planted in the PHI-laden dataset; none may survive, in any encoding.
PHI_STRINGS = [
    "Quixote",
    "Zebulon",
    PATIENT_ID,
    ISSUER,
    "OTHER-ID-31337",
    "19580704",  # birth date
    "20240115",  # study date
    "20240116",  # content date
    "ACC-55512",
    "STUDY-ID-9",
    "Elsewhere General",
    "77 Sunset Strip",
    "Radiology East",
    "Hawkeye",
    "Trapper",
    "Houlihan",
    "Winchester",
    "CT-ROOM-7",
    "SN-4417-XQ",
    "call the patient at 555",
    "History of falls",
    "Acme Imaging Secret",
    "ACME PRIVATE 1.0",
    "PACS-SOURCE-AE",
    "Knee-high socks",
    "Chief complaint neck",
    "Overlay secret",
]


def uid(suffix: str) -> str:
    return UID_ROOT + suffix


def ct_slice(k: int, *, study_date: str = "20240115", series: str = "1") -> Dataset:
    """One 512x512 CT slice of a fictitious patient, laden with identifiers."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid(f"{series}.{k + 1}")
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = "20240116" if study_date == "20240115" else study_date
    ds.InstanceCreationDate = study_date
    ds.StudyTime = "101500"
    ds.SeriesTime = "101700.5"
    ds.AcquisitionTime = "101733"
    ds.ContentTime = "101800"
    ds.AcquisitionDateTime = f"{study_date}101733.123456+0100"
    ds.AccessionNumber = "ACC-55512"
    ds.Modality = "CT"
    ds.Manufacturer = "Vendor"
    ds.InstitutionName = "Elsewhere General"
    ds.InstitutionAddress = "77 Sunset Strip"
    ds.InstitutionalDepartmentName = "Radiology East"
    ds.ReferringPhysicianName = "Pierce^Hawkeye"
    ds.PhysiciansOfRecord = "McIntyre^Trapper"
    ds.PerformingPhysicianName = "Houlihan^Margaret"
    ds.NameOfPhysiciansReadingStudy = "Winchester^Charles"
    ds.OperatorsName = "Klinger^Max"
    ds.StationName = "CT-ROOM-7"
    ds.StudyDescription = "Chief complaint neck"
    ds.SeriesDescription = "AX BONE 1.0"
    ds.PatientName = "Quixote^Zebulon"
    ds.PatientID = PATIENT_ID
    ds.IssuerOfPatientID = ISSUER
    ds.PatientBirthDate = "19580704"
    ds.PatientSex = "M"
    ds.PatientAge = "065Y"
    ds.PatientWeight = 81.5
    ds.AdditionalPatientHistory = "History of falls"
    ds.PatientComments = "Knee-high socks"
    other = Dataset()
    other.PatientID = "OTHER-ID-31337"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.BodyPartExamined = "CSPINE"
    ds.SliceThickness = 1.0
    ds.KVP = 120
    ds.DeviceSerialNumber = "SN-4417-XQ"
    ds.ProtocolName = "C-SPINE TRAUMA"
    ds.StudyInstanceUID = uid("100") if study_date == "20240115" else uid("200")
    ds.SeriesInstanceUID = uid(f"{series}.0") if study_date == "20240115" else uid("2.0")
    ds.StudyID = "STUDY-ID-9"
    ds.SeriesNumber = 2
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [-128.0, -128.0, -10.0 + k]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.FrameOfReferenceUID = uid("300")
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = "call the patient at 555"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 512
    ds.Columns = 512
    ds.PixelSpacing = [0.5, 0.5]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 450
    ds.WindowWidth = 1800
    ds.BurnedInAnnotation = "NO"
    # References that must follow the remap
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = uid(f"{series}.{k + 2}")
    ds.ReferencedImageSequence = Sequence([ref])
    region = Dataset()
    region.CodeValue = "122494005"
    region.CodingSchemeDesignator = "SCT"
    region.CodingSchemeUID = "2.16.840.1.113883.6.96"  # a coding-scheme UID: never remapped
    region.CodeMeaning = "Cervical spine"
    ds.AnatomicRegionSequence = Sequence([region])
    # A private creator block at top level and one nested in a sequence item
    block = ds.private_block(0x0029, "ACME PRIVATE 1.0", create=True)
    block.add_new(0x01, "LO", "Acme Imaging Secret")
    block.add_new(0x02, "UI", uid("999"))
    nested = ds.private_block(0x0031, "ACME PRIVATE 1.0", create=True)
    nested.add_new(0x10, "SH", "Zebulon")
    ref.add_new(0x00091001, "LO", "Quixote")  # private element without creator, in an item
    # An overlay plane with a comment
    ds.add_new(0x60000010, "US", 512)
    ds.add_new(0x60000011, "US", 512)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60004000, "LT", "Overlay secret")
    ds.add_new(0x60003000, "OW", b"\x00" * (512 * 512 // 8))
    rng = np.random.default_rng(k)
    ds.PixelData = rng.integers(0, 4096, (512, 512), dtype="<u2").tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "PACS-SOURCE-AE"
    ds.file_meta = meta
    return ds


def to_bytes(ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> bytes:
    ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(syntax)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian)
    return buffer.getvalue()


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def run_deid(ds: Dataset, secret: bytes = SECRET) -> DeidResult:
    patient_id, issuer = patient_identity(ds)
    return deidentify(
        ds,
        secret=secret,
        pseudonym=patient_pseudonym(patient_id, issuer, secret=secret),
        date_offset_days=date_offset_for_patient(patient_id, issuer=issuer, secret=secret),
    )


def walk_elements(ds: Dataset) -> Iterator[pydicom.DataElement]:
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value:
                yield from walk_elements(item)


def assert_no_phi(data: bytes, extra: Iterable[str] = ()) -> None:
    for text in [*PHI_STRINGS, *extra]:
        for encoded in {text.encode("latin-1"), text.encode("utf-16-le")}:
            assert encoded not in data, f"{text!r} survived de-identification"


def original_uids(datasets: list[Dataset]) -> set[str]:
    found = set()
    for ds in datasets:
        for elem in [*walk_elements(ds), *ds.file_meta]:
            if elem.VR == "UI" and str(elem.value).startswith(UID_ROOT):
                found.add(str(elem.value))
    return found


def days_between(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days  # YYYYMMDD (3.11+)


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def strict_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pydicom raise on any value invalid for its VR, when set, read or written."""
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", pydicom.config.RAISE)
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.RAISE)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_no_identifying_value_survives_in_the_bytes(syntax: str, strict_pydicom: None) -> None:
    source = ct_slice(0)
    data = to_bytes(source, syntax)
    uids = original_uids([source])
    assert len(uids) == 6  # study, series, SOP (= meta), FoR, referenced, private
    for text in PHI_STRINGS:  # the check below is meaningful: the input has them all
        assert text.encode("latin-1") in data, text

    result = run_deid(read(data))
    out = to_bytes(result.dataset, syntax)

    assert_no_phi(out, extra=sorted(uids))
    again = read(out)  # serializes and re-reads
    assert again.PatientIdentityRemoved == "YES"
    assert again.PatientName == again.PatientID == result.pseudonym
    assert again.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "Basic Application Level Confidentiality Profile" in again.DeidentificationMethod[0]
    assert [
        (c.CodingSchemeDesignator, c.CodeValue) for c in again.DeidentificationMethodCodeSequence
    ] == [
        ("DCM", "113100"),
        ("DCM", "113107"),
    ]
    assert codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption.value == "113107"


def test_private_tags_curves_overlays_and_file_meta_extras_are_removed() -> None:
    result = run_deid(read(to_bytes(ct_slice(0))))
    ds = result.dataset
    assert not [e.tag for e in walk_elements(ds) if e.tag.is_private]
    assert not [e.tag for e in ds if 0x6000 <= e.tag.group <= 0x60FF]
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert result.private_removed == 6  # 2 creators + 3 elements at top level, 1 in an item
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_basic_profile_actions_on_a_ct(strict_pydicom: None) -> None:
    original = read(to_bytes(ct_slice(0)))
    ds = run_deid(read(to_bytes(ct_slice(0)))).dataset
    # Z: emptied
    for keyword in ("AccessionNumber", "StudyID", "ReferringPhysicianName", "PatientSex"):
        assert keyword in ds and ds[keyword].value in ("", None), keyword
    assert ds.PatientBirthDate == ""  # Z, and not retained by the temporal option
    # X: removed (clinically useful ones included: the product must know)
    for keyword in (
        "IssuerOfPatientID",
        "OtherPatientIDsSequence",
        "PatientAge",
        "PatientWeight",
        "AdditionalPatientHistory",
        "PatientComments",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "PhysiciansOfRecord",
        "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy",
        "StudyDescription",
        "SeriesDescription",
        "ImageComments",
    ):
        assert keyword not in ds, keyword
    # X/Z/D and X/D: dummy values
    for keyword in ("InstitutionName", "StationName", "DeviceSerialNumber", "OperatorsName"):
        assert ds[keyword].value == "ANONYMIZED", keyword
    assert ds.ProtocolName == "ANONYMIZED"
    # Not in the table: kept as they were (what the viewer needs)
    for keyword in (
        "SOPClassUID",
        "Modality",
        "ImageType",
        "Manufacturer",
        "BodyPartExamined",
        "SliceThickness",
        "KVP",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PhotometricInterpretation",
        "RescaleIntercept",
        "RescaleSlope",
        "WindowCenter",
        "WindowWidth",
        "SeriesNumber",
        "InstanceNumber",
        "BurnedInAnnotation",
    ):
        assert ds[keyword].value == original[keyword].value, keyword
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPClassUID == CTImageStorage
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    assert ds.AnatomicRegionSequence[0].CodingSchemeUID == "2.16.840.1.113883.6.96"
    assert ds.PixelData == original.PixelData


def test_dates_shift_per_patient_and_intervals_survive() -> None:
    offset = date_offset_for_patient(PATIENT_ID, issuer=ISSUER, secret=SECRET)
    first = run_deid(read(to_bytes(ct_slice(0)))).dataset
    later = run_deid(read(to_bytes(ct_slice(0, study_date="20240712", series="2")))).dataset
    assert first.StudyDate != "20240115"
    assert days_between("20240115", first.StudyDate) == offset
    assert days_between(first.StudyDate, first.ContentDate) == 1
    assert days_between(first.StudyDate, later.StudyDate) == days_between("20240115", "20240712")
    assert first.AcquisitionDateTime == f"{first.StudyDate}101733.123456+0100"  # tz kept
    assert (first.StudyTime, first.SeriesTime) == ("101500", "101700.5")  # whole-day shift
    assert first.SeriesDate == first.AcquisitionDate == first.InstanceCreationDate


def test_two_uploads_of_one_patient_map_identically() -> None:
    data = to_bytes(ct_slice(0))
    one, two = run_deid(read(data)), run_deid(read(data))
    assert to_bytes(one.dataset) == to_bytes(two.dataset)  # byte for byte
    other_study = run_deid(read(to_bytes(ct_slice(3, study_date="20250101", series="3"))))
    assert other_study.pseudonym == one.pseudonym
    assert other_study.date_offset_days == one.date_offset_days
    assert other_study.dataset.FrameOfReferenceUID == one.dataset.FrameOfReferenceUID
    assert one.uid_map[uid("100")] == remap_uid(uid("100"), secret=SECRET)
    assert one.dataset.StudyInstanceUID == remap_uid(uid("100"), secret=SECRET)


def test_different_patients_and_secrets_differ() -> None:
    assert patient_pseudonym(PATIENT_ID, ISSUER, secret=SECRET) != patient_pseudonym(
        PATIENT_ID, "", secret=SECRET
    )
    assert patient_pseudonym("A", secret=SECRET) != patient_pseudonym("B", secret=SECRET)
    assert patient_pseudonym("A", secret=SECRET) != patient_pseudonym("A", secret=OTHER_SECRET)
    a = run_deid(read(to_bytes(ct_slice(0))), SECRET).dataset
    b = run_deid(read(to_bytes(ct_slice(0))), OTHER_SECRET).dataset
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID"):
        assert a[keyword].value != b[keyword].value, keyword
    assert remap_uid("1.2.3", secret=SECRET) != remap_uid("1.2.3", secret=OTHER_SECRET)
    assert remap_uid("1.2.3", secret=SECRET) != remap_uid("1.2.4", secret=SECRET)


def test_remapped_uids_are_valid() -> None:
    pattern = re.compile(r"^2\.25\.[1-9][0-9]*$")
    ds = run_deid(read(to_bytes(ct_slice(0)))).dataset
    remapped = [
        str(e.value)
        for e in [*walk_elements(ds), *ds.file_meta]
        if e.VR == "UI" and e.keyword not in ("SOPClassUID", "TransferSyntaxUID")
    ]
    remapped = [u for u in remapped if u.startswith("2.25.")]
    assert len(remapped) >= 6
    for new in [*remapped, *(remap_uid(f"1.2.{i}", secret=SECRET) for i in range(2000))]:
        assert pattern.match(new) and len(new) <= 64, new
        assert int(new[5:]) < 2**128
        assert pydicom.uid.UID(new).is_valid
    assert remap_uid("1.2.3\x00", secret=SECRET) == remap_uid("1.2.3", secret=SECRET)


def test_segmentation_references_follow_the_remap() -> None:
    sources = [read(to_bytes(ct_slice(k))) for k in range(3)]
    for ds in sources:  # highdicom wants a plain geometry; keep identifiers in place
        del ds[0x60000010:0x60010000]
    mask = np.zeros((3, 512, 512), dtype=np.uint8)
    mask[:, 200:300, 220:280] = 1
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[
            hd.seg.SegmentDescription(
                segment_number=1,
                segment_label="Dural canal",
                segmented_property_category=codes.SCT.AnatomicalStructure,
                segmented_property_type=codes.SCT.SpinalCerebrospinalFluidPathway,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
        ],
        series_instance_uid=uid("5.0"),
        series_number=100,
        sop_instance_uid=uid("5.1"),
        instance_number=1,
        manufacturer="Vendor",
        manufacturer_model_name="Model",
        software_versions="1",
        device_serial_number="SN-4417-XQ",
        content_creator_name="Houlihan^Margaret",
        omit_empty_frames=False,
    )
    seg_data = to_bytes(seg)
    seg_uids = original_uids([seg])
    ct_out = [run_deid(ds).dataset for ds in sources]
    seg_out = read(to_bytes(run_deid(read(seg_data)).dataset))

    assert seg_out.SOPClassUID == SegmentationStorage
    assert_no_phi(to_bytes(seg_out), extra=sorted(seg_uids))
    assert seg_out.StudyInstanceUID == ct_out[0].StudyInstanceUID
    assert seg_out.FrameOfReferenceUID == ct_out[0].FrameOfReferenceUID
    (series_ref,) = seg_out.ReferencedSeriesSequence
    assert series_ref.SeriesInstanceUID == ct_out[0].SeriesInstanceUID
    ct_sops = {ds.SOPInstanceUID for ds in ct_out}
    assert {i.ReferencedSOPInstanceUID for i in series_ref.ReferencedInstanceSequence} == ct_sops
    derived = {
        src.ReferencedSOPInstanceUID
        for frame in seg_out.PerFrameFunctionalGroupsSequence
        for derivation in frame.DerivationImageSequence
        for src in derivation.SourceImageSequence
    }
    assert derived == ct_sops
    organizations = {i.DimensionOrganizationUID for i in seg_out.DimensionOrganizationSequence}
    assert {i.DimensionOrganizationUID for i in seg_out.DimensionIndexSequence} == organizations
    assert all(u.startswith("2.25.") for u in organizations)
    assert seg_out.SegmentSequence[0].SegmentLabel == "Dural canal"  # not in the table: kept
    assert seg_out.PixelData == read(seg_data).PixelData


def test_every_table_attribute_is_handled_without_leaking(strict_pydicom: None) -> None:
    """Plant every attribute of Table E.1-1 (that pydicom's dictionary knows) and de-identify."""
    ds = ct_slice(0)
    planted: dict[int, tuple[str, object]] = {}
    skipped_vrs = {"AT", "US or SS", "OB or OW", "US or OW", "US or SS or OW", "OW or OB"}
    from cases.deidentify import BASIC_PROFILE  # the table under test

    for tag in sorted(BASIC_PROFILE):
        entry = DicomDictionary.get(tag)
        if entry is None or (tag >> 16) == 0x0002 or (tag >> 16) == 0x0000:
            continue
        vr = entry[0]
        marker = f"P{tag:08X}"
        value: object
        if vr in skipped_vrs:
            continue
        if vr in ("AE", "CS", "SH"):
            value = marker
        elif vr in ("LO", "LT", "ST", "UT", "UC", "PN"):
            value = f"Secret {marker}"
        elif vr == "UR":
            value = f"http://{marker.lower()}.example"
        elif vr == "UI":
            value = uid(f"9{tag}")
        elif vr == "DA":
            value = "20240115"
        elif vr == "DT":
            value = "20240115101733+0100"
        elif vr == "TM":
            value = "101733"
        elif vr == "AS":
            value = "045Y"
        elif vr in ("DS", "IS"):
            value = "7"
        elif vr in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"):
            value = 7
        elif vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
            value = marker.encode("ascii")
        elif vr == "SQ":
            item = Dataset()
            item.PersonName = f"Secret^{marker}"
            value = Sequence([item])
        else:
            raise AssertionError(f"unexpected VR {vr} for {tag:08X}")
        ds.add_new(tag, vr, value)
        planted[tag] = (vr, value)
    assert len(planted) > 500

    result = run_deid(read(to_bytes(ds)))
    out = to_bytes(result.dataset)
    for tag, (vr, value) in planted.items():
        if isinstance(value, str) and value.startswith(("Secret", "P", "http")):
            assert f"P{tag:08X}".encode() not in out.upper(), keyword_for_tag(tag)
        if isinstance(value, bytes):
            assert value not in out, keyword_for_tag(tag)
        if vr == "SQ":
            assert f"P{tag:08X}".encode() not in out, keyword_for_tag(tag)
    assert b"Secret" not in out
    assert_no_phi(out, extra=[uid("9")])
    again = read(out)
    # DA/DT of the table are retained, shifted (the option's "C"), except the birth date
    for tag, (vr, _value) in planted.items():
        if vr in ("DA", "DT") and tag not in (0x00100030, 0x00160077):
            assert str(again[tag].value).startswith(result.dataset.StudyDate), hex(tag)
    assert basic_profile_code(0x00100030) == "Z" and again.PatientBirthDate == ""
    assert 0x00160077 not in again  # GPS Time Stamp: X, not retained by the option


def test_table_is_the_standard_edition() -> None:
    assert ANNEX_E_EDITION == "2026c"
    assert basic_profile_code(0x0020000D) == "U"  # Study Instance UID
    assert basic_profile_code(0x00100010) == "Z"  # Patient's Name
    assert basic_profile_code(0x0008103E) == "X"  # Series Description
    assert basic_profile_code(0x00081140) == "X/Z/U*"  # Referenced Image Sequence
    assert basic_profile_code(0x60023000) == "X"  # Overlay Data, repeating group
    assert basic_profile_code(0x50100010) == "X"  # Curve Data
    assert basic_profile_code(0x00080016) is None  # SOP Class UID: kept
    assert basic_profile_code(0x00280010) is None  # Rows: kept


def test_date_value_edge_cases() -> None:
    ds = Dataset()
    ds.PatientID = "X"
    ds.StudyDate = "20240229"
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        ds.SeriesDate = "2024.02.29"  # ACR-NEMA
    ds.AcquisitionDateTime = "202402"  # month precision
    ds.add_new(0x0008002A, "DT", "202402")
    ds.add_new(0x00181202, "DT", "2024")  # year precision
    ds.add_new(0x00181200, "DA", ["20240101", "20240201"])  # Date of Last Calibration, VM 1-n
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        ds.add_new(0x00080012, "DA", "not a date")  # Instance Creation Date, unparseable
    # Not listed in Table E.1-1 (the Basic Profile would keep them): shifted all the same
    ds.add_new(0x00141020, "DA", "20240301")  # Expiry Date
    ds.add_new(0x0008041F, "DT", "20240301120000")  # Study Update DateTime
    ds.add_new(0x00080023, "DA", "00010101")  # Content Date, shifts below year 1
    deidentify(ds, secret=SECRET, pseudonym="SGT-TEST", date_offset_days=-1)
    assert ds.StudyDate == "20240228"
    assert ds.SeriesDate == "20240228"
    assert ds.AcquisitionDateTime == "202401"
    assert ds[0x00181202].value == "2023"
    assert list(ds[0x00181200].value) == ["20231231", "20240131"]
    assert ds[0x00080012].value == ""
    assert ds[0x00080023].value == ""
    assert basic_profile_code(0x00141020) is None and basic_profile_code(0x0008041F) is None
    assert ds[0x00141020].value == "20240229"
    assert ds[0x0008041F].value == "20240229120000"


def test_offsets_are_deterministic_and_never_zero() -> None:
    offsets = [date_offset_for_patient(f"P{i}", secret=SECRET, max_days=3) for i in range(600)]
    assert set(offsets) == {-3, -2, -1, 1, 2, 3}
    assert offsets == [
        date_offset_for_patient(f"P{i}", secret=SECRET, max_days=3) for i in range(600)
    ]
    wide = {date_offset_for_patient(f"P{i}", secret=SECRET) for i in range(200)}
    assert 0 not in wide and max(abs(d) for d in wide) <= 3650 and len(wide) > 150
    assert date_offset_for_patient("P1", secret=SECRET) != date_offset_for_patient(
        "P1", secret=OTHER_SECRET
    ) or date_offset_for_patient("P2", secret=SECRET) != date_offset_for_patient(
        "P2", secret=OTHER_SECRET
    )
    pseudonym = patient_pseudonym(PATIENT_ID, ISSUER, secret=SECRET)
    assert re.fullmatch(r"SGT-[A-Z2-7]{16}", pseudonym)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        remap_uid("1.2.3", secret=b"short")
    with pytest.raises(ValueError, match="secret"):
        deidentify(ct_slice(0), secret=b"short", pseudonym="SGT-A", date_offset_days=3)
    with pytest.raises(ValueError, match="date_offset_days"):
        deidentify(ct_slice(0), secret=SECRET, pseudonym="SGT-A", date_offset_days=0)
    with pytest.raises(ValueError, match="pseudonym"):
        deidentify(ct_slice(0), secret=SECRET, pseudonym="A\\B", date_offset_days=3)
    with pytest.raises(ValueError, match="max_days"):
        date_offset_for_patient("A", secret=SECRET, max_days=0)


def test_burned_in_annotation_is_flagged() -> None:
    ct = ct_slice(0)
    assert burned_in_annotation_suspected(ct) is None  # explicit NO
    del ct.BurnedInAnnotation
    assert burned_in_annotation_suspected(ct) is None  # modality image, attribute absent
    ct.BurnedInAnnotation = "YES"
    assert "BurnedInAnnotation" in (burned_in_annotation_suspected(ct) or "")
    ct.BurnedInAnnotation = "NO"
    ct.RecognizableVisualFeatures = "YES"
    assert "RecognizableVisualFeatures" in (burned_in_annotation_suspected(ct) or "")
    sc = ct_slice(1)
    sc.SOPClassUID = SecondaryCaptureImageStorage
    del sc.BurnedInAnnotation
    assert "secondary capture" in (burned_in_annotation_suspected(sc) or "")
    sc.BurnedInAnnotation = "NO"
    assert burned_in_annotation_suspected(sc) is None
    # The flag survives de-identification (the profile keeps it), so either order works.
    ct.BurnedInAnnotation = "YES"
    assert burned_in_annotation_suspected(run_deid(ct).dataset) is not None
