"""The lean DICOM JSON conversion gives exactly what pydicom's ``to_json_dict`` gives."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RLELossless

from cases import dicom_json
from cases.deidentify import deidentify


def _handler(element: DataElement) -> str:
    return f"bulk/{int(element.tag):08X}"


def _pydicoms(ds: Dataset) -> dict[str, Any]:
    return ds.to_json_dict(
        bulk_data_element_handler=_handler, bulk_data_threshold=dicom_json.BULK_DATA_THRESHOLD
    )


def _both(ds: Dataset) -> tuple[str, str]:
    """Both conversions as the JSON text stored at ingest (types matter: 1 is not 1.0)."""
    return dicom_json.dumps(dicom_json.dataset_json(ds, _handler)), dicom_json.dumps(_pydicoms(ds))


def _every_vr() -> Dataset:
    item = Dataset()
    item.CodeValue = "113100"
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = "Basic Application Confidentiality Profile"
    nested = Dataset()
    nested.ReferencedSOPInstanceUID = "1.2.3.4"
    nested.ReferencedFrameNumber = [1, 2]
    item.ReferencedImageSequence = Sequence([nested])
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Doe^John^^Dr=Yamada^Taro=やまだ^たろう"
    ds.ReferringPhysicianName = ["A^B", "C^D"]
    ds.OperatorsName = ""
    ds.PatientID = "ID-1"
    ds.OtherPatientIDs = ["X", "", "Y"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyDate = "20240102"
    ds.AcquisitionDateTime = "20240102101010.123456+0100"
    ds.StudyTime = ""
    ds.SOPInstanceUID = "1.2.840.1"
    ds.StudyDescription = "A study"
    ds.ImageComments = "a long text\\with a backslash"
    ds.InstanceNumber = "0007"
    ds.ImagesInAcquisition = ""
    ds.SliceThickness = "1.50"
    ds.PixelSpacing = ["0.5", "0.25"]
    ds.ImagePositionPatient = [-120.0, 0, "1e2"]
    ds.WindowCenter = ""
    ds.Rows = 512
    ds.LargestImagePixelValue = 4095
    ds.add_new(0x00280106, "US", [0, 1])  # SmallestImagePixelValue as a multi-value
    ds.add_new(0x00189087, "FD", 1000.5)  # DiffusionBValue
    ds.add_new(0x00189089, "FD", [0.0, 1.0, -1.0])  # DiffusionGradientOrientation
    ds.add_new(0x00181310, "US", [512, 0, 0, 512])  # AcquisitionMatrix
    ds.add_new(0x00209165, "AT", [0x00100010, 0x7FE00010])  # DimensionIndexPointer
    ds.add_new(0x00280009, "AT", 0x00200013)  # FrameIncrementPointer
    ds.add_new(0x00186020, "SL", -3)  # ReferencePixelX0
    ds.add_new(0x00189219, "FL", 2.5)  # TagAngleSecondAxis
    ds.add_new(0x00420011, "OB", b"\x01\x02\x03")  # EncapsulatedDocument, inline
    ds.add_new(0x00281201, "OW", b"\x00\x01" * 40_000)  # RedPaletteColorLUTData, bulk
    ds.add_new(0x00091010, "LO", "private text")
    ds.add_new(0x00091011, "UN", b"\x00unknown")
    ds.add_new(0x00400441, "SQ", Sequence())  # ContentItemModifierSequence, empty
    ds.DeidentificationMethodCodeSequence = Sequence([item, Dataset()])
    return ds


def test_every_kind_of_element_converts_as_pydicom_does() -> None:
    ours, theirs = _both(_every_vr())
    assert ours == theirs


def test_a_written_and_read_dataset_converts_as_pydicom_does() -> None:
    """Values read from a file (raw elements, IS and DS kept as read) as well as set ones."""
    ds = _every_vr()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    read = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    ours, theirs = _both(read)
    assert ours == theirs


@pytest.mark.parametrize("role", ["CT", "MRI-T2"])
def test_phantom_instances_before_and_after_deidentification_convert_as_pydicom_does(
    cervical_files: dict[str, list[Path]], role: str
) -> None:
    ds = pydicom.dcmread(cervical_files[role][2])
    assert _both(ds)[0] == _both(ds)[1]
    deidentify(ds, secret=b"0123456789abcdef", pseudonym="P", date_offset_days=-3)
    ours, theirs = _both(ds)
    assert ours == theirs


def test_instance_json_keeps_pixel_data_as_a_bulk_uri(
    cervical_files: dict[str, list[Path]],
) -> None:
    ds = pydicom.dcmread(cervical_files["CT"][0])
    ds.compress(RLELossless)
    result = dicom_json.instance_json(ds)
    assert result["7FE00010"] == {
        "vr": "OB",
        "BulkDataURI": (
            f"{{{{BASE}}}}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}/bulkdata/7FE00010"
        ),
    }
    assert result["00083002"] == {"vr": "UI", "Value": [RLELossless]}
    rest = {tag: value for tag, value in result.items() if tag not in ("7FE00010", "00083002")}
    del ds.PixelData
    assert dicom_json.dumps(rest) == dicom_json.dumps(
        {key: value for key, value in _pydicoms(ds).items()}
    )


def _pydicom_sample_files() -> list[Path]:
    """The files pydicom ships for its own tests: many VRs, character sets (PN with
    ideographic and phonetic groups), multi-valued and empty values, odd-length and
    bulk-sized binary values, sequences nested several deep."""
    root = Path(pydicom.__file__).parent / "data"
    return sorted(
        path
        for folder in ("test_files", "charset_files")
        for path in (root / folder).rglob("*")
        if path.is_file() and not path.name.endswith((".py", ".pyc", ".json", ".txt"))
    )


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pydicoms_own_sample_files_convert_as_pydicom_does() -> None:
    compared, different = 0, []
    for path in _pydicom_sample_files():
        try:
            ds = pydicom.dcmread(path, force=True)
            expected = dicom_json.dumps(_pydicoms(ds))
        except Exception:  # noqa: S112 (not a data set pydicom itself can convert)
            continue
        compared += 1
        if dicom_json.dumps(dicom_json.dataset_json(ds, _handler)) != expected:
            different.append(path.name)
    assert compared > 150  # the sample set is there (pydicom 3 ships about 200 such files)
    assert different == []
