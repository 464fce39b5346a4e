"""DICOM outputs of the models: SEG, derived mask series and synthetic MR series."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from inference.dicom_outputs import (
    Provenance,
    ncctm_mask_datasets,
    ncctm_segmentation,
    pseudo_mri_datasets,
)
from inference.ncctm import STRUCTURES, lumbar_structure_labels
from inference.phantoms import StudyInfo, build_ct_series, generate_lumbar_case
from inference.series_io import CTVolume

SHAPE = (12, 48, 48)


def _provenance(job: str = "job-1") -> Provenance:
    return Provenance(
        job_id=job,
        task="ncctm",
        model_name="unet-test",
        model_version="7",
        model_sha256="ab" * 32,
        source_series_uid="1.2.3.4",
        created=dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def volume_and_labels() -> tuple[CTVolume, np.ndarray]:
    phantom = generate_lumbar_case(seed=4, shape=SHAPE)
    study = StudyInfo.synthetic(
        seed=4,
        patient_name="PHANTOM^OUT",
        patient_id="OUT4",
        body_part="LSPINE",
        study_description="outputs",
        uid_namespace="test-outputs",
    )
    datasets = build_ct_series(
        phantom.mixed_ct_hu,
        study=study,
        spacing_mm=phantom.spacing_mm,
        series_number=2,
        series_description="DE Mixed",
    )
    volume = CTVolume(
        hu=phantom.mixed_ct_hu.astype(np.float32), spacing_mm=phantom.spacing_mm, datasets=datasets
    )
    return volume, lumbar_structure_labels(phantom.labels)


def _round_trip(ds: Dataset) -> Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _geometry(ds: Dataset) -> tuple[object, ...]:
    return (
        [float(v) for v in ds.ImagePositionPatient],
        [float(v) for v in ds.ImageOrientationPatient],
        [float(v) for v in ds.PixelSpacing],
        int(ds.Rows),
        int(ds.Columns),
        str(ds.FrameOfReferenceUID),
        str(ds.StudyInstanceUID),
    )


def test_seg_reads_back_with_highdicom_and_its_frames_align_with_the_ct(
    volume_and_labels: tuple[CTVolume, np.ndarray],
) -> None:
    volume, labels = volume_and_labels
    assert (labels == 1).any() and (labels == 2).any()
    made = ncctm_segmentation(volume, labels, provenance=_provenance(), structures=STRUCTURES)
    seg = hd.seg.Segmentation.from_dataset(_round_trip(made))
    assert seg.number_of_segments == 2
    assert seg.SegmentationType == "BINARY"
    assert str(seg.FrameOfReferenceUID) == str(volume.datasets[0].FrameOfReferenceUID)
    assert str(seg.StudyInstanceUID) == str(volume.datasets[0].StudyInstanceUID)
    description = seg.get_segment_description(1)
    assert description.segment_label == "Dural canal"
    assert description.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    assert description.algorithm_identification[0].AlgorithmName == "unet-test"
    # One frame per CT slice and segment, in slice order, at each slice's position.
    source_uids = [str(ds.SOPInstanceUID) for ds in volume.datasets]
    assert int(seg.NumberOfFrames) == 2 * len(source_uids)
    for segment in (1, 2):
        for k, src in enumerate(volume.datasets):
            frame = seg.PerFrameFunctionalGroupsSequence[(segment - 1) * len(source_uids) + k]
            position = frame.PlanePositionSequence[0].ImagePositionPatient
            assert [float(v) for v in position] == [float(v) for v in src.ImagePositionPatient]
            derivation = frame.DerivationImageSequence[0].SourceImageSequence[0]
            assert derivation.ReferencedSOPInstanceUID == src.SOPInstanceUID
    read_back = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=source_uids, segment_numbers=[1, 2], combine_segments=True
    )
    np.testing.assert_array_equal(read_back, labels)


def test_mask_series_lies_on_the_ct_grid(
    volume_and_labels: tuple[CTVolume, np.ndarray],
) -> None:
    volume, labels = volume_and_labels
    masks = [
        _round_trip(ds)
        for ds in ncctm_mask_datasets(
            volume, labels, provenance=_provenance(), structures=STRUCTURES
        )
    ]
    assert len(masks) == len(volume.datasets)
    assert len({ds.SeriesInstanceUID for ds in masks}) == 1
    for k, (mask, src) in enumerate(zip(masks, volume.datasets, strict=True)):
        assert _geometry(mask) == _geometry(src)
        assert list(mask.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert mask.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert mask.RescaleType == "US" and "dural canal" in mask.DerivationDescription
        np.testing.assert_array_equal(mask.pixel_array, labels[k])


def test_pseudo_mri_series_is_marked_synthetic_and_shares_the_ct_geometry(
    volume_and_labels: tuple[CTVolume, np.ndarray],
) -> None:
    volume, _ = volume_and_labels
    mri = np.linspace(0, 3000, volume.hu.size, dtype=np.float32).reshape(volume.hu.shape)
    slices = [_round_trip(ds) for ds in pseudo_mri_datasets(volume, mri, provenance=_provenance())]
    assert len(slices) == len(volume.datasets)
    first = slices[0]
    assert first.Modality == "MR" and first.SOPClassUID == pydicom.uid.MRImageStorage
    assert first.SeriesDescription.startswith("SYNTHETIC")
    assert "not an acquired MR image" in first.DerivationDescription
    assert "unet-test 7" in first.DerivationDescription and "job-1" in first.DerivationDescription
    equipment = first.ContributingEquipmentSequence[0]
    assert equipment.PurposeOfReferenceCodeSequence[0].CodeValue == "109100"  # synthesizing
    assert equipment.ManufacturerModelName == "unet-test"
    assert str(first.SeriesInstanceUID) != str(volume.datasets[0].SeriesInstanceUID)
    for k, (out, src) in enumerate(zip(slices, volume.datasets, strict=True)):
        assert _geometry(out) == _geometry(src)
        assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        np.testing.assert_array_equal(out.pixel_array, np.rint(np.clip(mri[k], 0, 4095)))


def test_uids_are_deterministic_per_job(
    volume_and_labels: tuple[CTVolume, np.ndarray],
) -> None:
    volume, labels = volume_and_labels
    mri = np.zeros(volume.hu.shape, np.float32)

    def uids(job: str) -> list[str]:
        provenance = _provenance(job)
        made = [
            *pseudo_mri_datasets(volume, mri, provenance=provenance),
            *ncctm_mask_datasets(volume, labels, provenance=provenance, structures=STRUCTURES),
            ncctm_segmentation(volume, labels, provenance=provenance, structures=STRUCTURES),
        ]
        return [str(ds.SOPInstanceUID) for ds in made] + [str(made[0].SeriesInstanceUID)]

    first = uids("job-1")
    assert uids("job-1") == first  # a re-run of the job makes the same instances
    assert set(uids("job-2")).isdisjoint(first)  # another job makes new ones
    assert len(set(first)) == len(first)


def test_outputs_must_lie_on_the_ct_grid(
    volume_and_labels: tuple[CTVolume, np.ndarray],
) -> None:
    volume, labels = volume_and_labels
    with pytest.raises(ValueError, match="not on the CT grid"):
        pseudo_mri_datasets(volume, np.zeros((3, 4, 5), np.float32), provenance=_provenance())
    with pytest.raises(ValueError, match="not on the CT grid"):
        ncctm_mask_datasets(volume, labels[:-1], provenance=_provenance(), structures=STRUCTURES)


def test_dciodvfy_reports_no_errors(
    tmp_path: Path, volume_and_labels: tuple[CTVolume, np.ndarray]
) -> None:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.fail("dciodvfy not found: `apt-get install -y dicom3tools`")
    volume, labels = volume_and_labels
    provenance = _provenance()
    mri = np.full(volume.hu.shape, 1200.0, np.float32)
    outputs = {
        "pseudo-mri": pseudo_mri_datasets(volume, mri, provenance=provenance)[0],
        "mask": ncctm_mask_datasets(volume, labels, provenance=provenance, structures=STRUCTURES)[
            0
        ],
        "seg": ncctm_segmentation(volume, labels, provenance=provenance, structures=STRUCTURES),
    }
    for name, ds in outputs.items():
        path = tmp_path / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        done = subprocess.run([binary, str(path)], capture_output=True, text=True, check=False)
        report = done.stdout + done.stderr
        errors = [line for line in report.splitlines() if "Error" in line]
        assert not errors, f"{name}:\n" + "\n".join(errors)
        assert report.strip(), "dciodvfy printed nothing"
