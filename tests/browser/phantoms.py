"""Phantom cases for the viewer's tests: DICOM files written once, imported per test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless

from cases.ingest import instance_ingest
from cases.models import Case, Region, SeriesRole, Study
from cases.services import case_create
from inference.phantoms import (
    CervicalPhantom,
    LumbarPhantom,
    generate_cervical_case,
    generate_lumbar_case,
    write_cervical_case_dicom,
    write_lumbar_case_dicom,
)

CERVICAL_SHAPE = (16, 96, 96)
LUMBAR_SHAPE = (20, 160, 160)
ROLES = {
    "CT": SeriesRole.CT,
    "MRI-T2": SeriesRole.MRI_T2,
    "DECT-mixed": SeriesRole.DECT_MIXED,
    "MRM": SeriesRole.MRM,
    "NC-CTM-mask": SeriesRole.NCCTM_MASK,
}


@dataclass(frozen=True)
class PhantomFiles:
    files: dict[str, list[Path]]
    ct_hu: npt.NDArray[np.int16]
    mask: npt.NDArray[np.uint8] | None
    spacing_mm: tuple[float, float, float]


def cervical_files(out_dir: Path) -> PhantomFiles:
    phantom: CervicalPhantom = generate_cervical_case(seed=11, shape=CERVICAL_SHAPE)
    files = write_cervical_case_dicom(
        phantom, out_dir, patient_name="VIEWER^CERVICAL", patient_id="VC1"
    )
    return PhantomFiles(files, phantom.ct_hu, None, phantom.spacing_mm)


def compressed_cervical_files(out_dir: Path) -> PhantomFiles:
    """The cervical phantom stored compressed: CT as JPEG 2000, MRI as JPEG-LS (lossless)."""
    phantom: CervicalPhantom = generate_cervical_case(seed=12, shape=CERVICAL_SHAPE)
    plain = write_cervical_case_dicom(
        phantom, out_dir / "plain", patient_name="VIEWER^COMPRESSED", patient_id="VC2"
    )
    files: dict[str, list[Path]] = {}
    for role, syntax in (("CT", JPEG2000Lossless), ("MRI-T2", JPEGLSLossless)):
        files[role] = []
        for path in plain[role]:
            dataset = pydicom.dcmread(path)
            dataset.compress(syntax)
            target = out_dir / role / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(target, enforce_file_format=True)
            files[role].append(target)
    return PhantomFiles(files, phantom.ct_hu, None, phantom.spacing_mm)


def lumbar_files(out_dir: Path) -> PhantomFiles:
    phantom: LumbarPhantom = generate_lumbar_case(seed=4, shape=LUMBAR_SHAPE)
    files = write_lumbar_case_dicom(
        phantom, out_dir, patient_name="VIEWER^LUMBAR", patient_id="VL1"
    )
    return PhantomFiles(files, phantom.mixed_ct_hu, phantom.dural_canal_mask, phantom.spacing_mm)


def import_case(files: PhantomFiles, *, label: str, region: Region) -> Case:
    """Ingest every file through the platform's one ingest service and make a case of it."""
    study_uids: set[str] = set()
    for role, paths in files.files.items():
        for path in paths:
            outcome = instance_ingest(data=path.read_bytes(), role=ROLES[role])
            assert outcome.status == "stored", outcome.reason
            study_uids.add(outcome.study_instance_uid)
    studies = Study.objects.filter(study_instance_uid__in=study_uids)
    return case_create(actor=None, label=label, region=region, studies=studies)
