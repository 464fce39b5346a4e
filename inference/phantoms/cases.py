"""Write whole phantom cases as DICOM studies, one folder per series role.

Role names match the series roles of the platform's data model (DESIGN.md): ``"CT"`` and
``"MRI-T2"`` for a cervical case; ``"DECT-mixed"``, ``"MRM"`` and ``"NC-CTM-mask"`` for a
lumbar case. All series of a case share one study and one frame of reference.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.sr.codedict import codes

from inference.phantoms.cervical import CervicalPhantom
from inference.phantoms.dicom_writer import (
    CTParameters,
    MRParameters,
    build_ct_series,
    save_series,
    write_ct_series,
    write_mr_series,
)
from inference.phantoms.lumbar import LumbarPhantom
from inference.phantoms.segmentation import build_segmentation, save_segmentation
from inference.phantoms.study import StudyInfo

ROLE_CT = "CT"
ROLE_MRI_T2 = "MRI-T2"
ROLE_DECT_MIXED = "DECT-mixed"
ROLE_MRM = "MRM"
ROLE_NCCTM_MASK = "NC-CTM-mask"

#: Trauma C-spine CT: sharp bone kernel, soft-tissue and bone windows.
CERVICAL_CT = CTParameters(
    kvp=120.0,
    kernel=("Br64d",),
    windows=((40.0, 400.0, "SOFT TISSUE"), (450.0, 1800.0, "BONE")),
)
#: Axial 2D T2 turbo spin echo.
CERVICAL_T2 = MRParameters()
#: Dual-source DECT (100 kV / Sn150 kV) "mixed" image, ADMIRE strength 5 (the protocol's
#: best). DICOM has no Image Type term for a blended DE image (value 4 only knows VMI,
#: MAT_SPECIFIC...), so the mixed image is marked the way scanners do: in the description.
LUMBAR_DECT_MIXED = CTParameters(
    kvp=100.0,
    tube_current_ma=300,
    kernel=("Qr40d", "5"),
    ctdi_vol_mgy=12.0,
    windows=((40.0, 350.0, "SOFT TISSUE"), (500.0, 2000.0, "BONE")),
)
#: Heavily T2-weighted, fat-suppressed 3D turbo spin echo myelography.
LUMBAR_MRM = MRParameters(
    sequence_variant=("SK", "SP"),
    scan_options=("FS",),
    acquisition_type="3D",
    repetition_time_ms=4500.0,
    echo_time_ms=700.0,
    echo_train_length=160,
    flip_angle_deg=100.0,
    sequence_name="*spc3d1_160",
    number_of_averages=1.0,
    pixel_bandwidth_hz=350.0,
)


def _cervical_study(
    phantom: CervicalPhantom,
    *,
    patient_name: str,
    patient_id: str,
    study_description: str,
    uid_namespace: str | None,
) -> StudyInfo:
    return StudyInfo.synthetic(
        seed=phantom.seed,
        patient_name=patient_name,
        patient_id=patient_id,
        body_part="CSPINE",
        study_description=study_description,
        uid_namespace=uid_namespace or f"cervical/{phantom.seed}/{patient_id}",
    )


def _write_cervical_ct(phantom: CervicalPhantom, out_dir: Path, study: StudyInfo) -> list[Path]:
    return write_ct_series(
        phantom.ct_hu,
        out_dir,
        study=study,
        spacing_mm=phantom.spacing_mm,
        series_number=2,
        series_description=f"C-Spine Axial {phantom.spacing_mm[0]:.1f} Br64",
        params=CERVICAL_CT,
    )


def write_cervical_ct_dicom(
    phantom: CervicalPhantom,
    out_dir: Path,
    *,
    patient_name: str,
    patient_id: str,
    study_description: str = "Cervical spine CT",
    uid_namespace: str | None = None,
) -> list[Path]:
    """Write only the CT series of a cervical phantom (benchmarks of large CT series)."""
    study = _cervical_study(
        phantom,
        patient_name=patient_name,
        patient_id=patient_id,
        study_description=study_description,
        uid_namespace=uid_namespace,
    )
    return _write_cervical_ct(phantom, out_dir, study)


def write_cervical_case_dicom(
    phantom: CervicalPhantom,
    out_dir: Path,
    *,
    patient_name: str,
    patient_id: str,
    uid_namespace: str | None = None,
) -> dict[str, list[Path]]:
    """Write a cervical phantom as a CT series and a T2 MRI series of one study.

    Args:
        phantom: The phantom.
        out_dir: Folder; series go to ``out_dir/CT`` and ``out_dir/MRI-T2``.
        patient_name: e.g. ``"PHANTOM^CERVICAL^001"``.
        patient_id: Patient ID.
        uid_namespace: Seed of all UIDs; defaults to one built from seed and patient ID,
            so two patients made from one seed still get distinct UIDs.

    Returns:
        Series role -> files, slice order (cranial first).
    """
    study = _cervical_study(
        phantom,
        patient_name=patient_name,
        patient_id=patient_id,
        study_description="Cervical spine trauma CT and MRI",
        uid_namespace=uid_namespace,
    )
    thick = phantom.spacing_mm[0]
    ct = _write_cervical_ct(phantom, out_dir / ROLE_CT, study)
    mri = write_mr_series(
        phantom.mri_t2,
        out_dir / ROLE_MRI_T2,
        study=study,
        spacing_mm=phantom.spacing_mm,
        series_number=3,
        series_description=f"T2 TSE AX {thick:.1f}mm",
        params=CERVICAL_T2,
    )
    return {ROLE_CT: ct, ROLE_MRI_T2: mri}


def write_lumbar_case_dicom(
    phantom: LumbarPhantom,
    out_dir: Path,
    *,
    patient_name: str,
    patient_id: str,
    uid_namespace: str | None = None,
) -> dict[str, list[Path]]:
    """Write a lumbar phantom: DECT mixed CT, MR myelography and the dural canal SEG.

    Args:
        phantom: The phantom.
        out_dir: Folder; series go to ``out_dir/<role>``.
        patient_name: e.g. ``"PHANTOM^LUMBAR^001"``.
        patient_id: Patient ID.
        uid_namespace: Seed of all UIDs (default from seed and patient ID).

    Returns:
        Series role -> files: ``"DECT-mixed"``, ``"MRM"``, ``"NC-CTM-mask"`` (one SEG file).
    """
    study = StudyInfo.synthetic(
        seed=phantom.seed,
        patient_name=patient_name,
        patient_id=patient_id,
        body_part="LSPINE",
        study_description="Lumbar spine dual-energy CT and MR myelography",
        uid_namespace=uid_namespace or f"lumbar/{phantom.seed}/{patient_id}",
    )
    thick = phantom.spacing_mm[0]
    ct_datasets = build_ct_series(
        phantom.mixed_ct_hu,
        study=study,
        spacing_mm=phantom.spacing_mm,
        series_number=2,
        series_description=f"DE Mixed {thick:.1f} Qr40 ADMIRE 5",
        params=LUMBAR_DECT_MIXED,
    )
    ct = save_series(ct_datasets, out_dir / ROLE_DECT_MIXED, "CT")
    mrm = write_mr_series(
        phantom.mrm,
        out_dir / ROLE_MRM,
        study=study,
        spacing_mm=phantom.spacing_mm,
        series_number=3,
        series_description="MR Myelography 3D SPACE",
        params=LUMBAR_MRM,
    )
    # "Spinal CSF pathway" is the closest SNOMED concept in pydicom's dictionary to the
    # dural canal: the CSF-filled dural sac and root sleeves that NC-CTM segments.
    seg = build_segmentation(
        phantom.dural_canal_mask,
        ct_datasets,
        study=study,
        segment_label="Dural canal",
        property_category=codes.SCT.AnatomicalStructure,
        property_type=codes.SCT.SpinalCerebrospinalFluidPathway,
        anatomic_region=codes.SCT.LumbarSpine,
        series_number=100,
        series_description="NC-CTM dural canal",
    )
    mask = save_segmentation(seg, out_dir / ROLE_NCCTM_MASK / "SEG_0001.dcm")
    return {ROLE_DECT_MIXED: ct, ROLE_MRM: mrm, ROLE_NCCTM_MASK: [mask]}
