"""Tests of the synthetic spine phantoms and their DICOM writer (no Django, no database)."""

from __future__ import annotations

import filecmp
import itertools
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SegmentationStorage,
)
from scipy import ndimage

from inference.phantoms import (
    CANAL_STENOSIS,
    CERVICAL_FINDINGS,
    CERVICAL_INJURY_LEVELS,
    CORD_EDEMA,
    DISC_INJURY,
    LIGAMENT_INJURY,
    RETROPHARYNGEAL_HEMATOMA,
    ROLE_CT,
    ROLE_DECT_MIXED,
    ROLE_MRI_T2,
    ROLE_MRM,
    ROLE_NCCTM_MASK,
    CervicalLabel,
    CervicalPhantom,
    LumbarLabel,
    LumbarPhantom,
    generate_cervical_case,
    generate_lumbar_case,
    write_cervical_case_dicom,
    write_lumbar_case_dicom,
)

# Small in-plane matrices keep the suite fast; 64 slices keep discs (~5 mm) resolved.
SHAPE = (64, 96, 96)
SEED = 11
C = CervicalLabel
L = LumbarLabel


@pytest.fixture(scope="module")
def cervical() -> CervicalPhantom:
    return generate_cervical_case(seed=SEED, findings=CERVICAL_FINDINGS, shape=SHAPE)


@pytest.fixture(scope="module")
def cervical_normal() -> CervicalPhantom:
    return generate_cervical_case(seed=SEED, shape=SHAPE)


@pytest.fixture(scope="module")
def lumbar() -> LumbarPhantom:
    return generate_lumbar_case(seed=SEED, shape=SHAPE, herniation=True)


@pytest.fixture(scope="module")
def lumbar_normal() -> LumbarPhantom:
    return generate_lumbar_case(seed=SEED, shape=SHAPE, herniation=False)


def mean_in(image: npt.NDArray[np.generic], mask: npt.NDArray[np.bool_]) -> float:
    assert mask.any(), "empty region"
    return float(image[mask].astype(np.float64).mean())


# --- cervical: intensities --------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("label", "low", "high"),
    [
        (C.CORTICAL_BONE, 700, 1200),
        (C.CANCELLOUS_BONE, 200, 350),
        (C.POSTERIOR_ELEMENTS, 500, 1000),
        (C.DISC, 70, 110),
        (C.CSF, 0, 15),
        (C.SPINAL_CORD, 30, 40),
        (C.SOFT_TISSUE, 40, 60),
        (C.FAT, -120, -80),
        (C.AIR, -1010, -990),
    ],
)
def test_cervical_ct_hu_by_tissue(seed: int, label: C, low: float, high: float) -> None:
    p = generate_cervical_case(seed=seed, shape=SHAPE)
    assert low <= mean_in(p.ct_hu, p.labels == label) <= high


def test_cervical_ct_noise_is_realistic(cervical: CervicalPhantom) -> None:
    sd = float(cervical.ct_hu[cervical.labels == C.SOFT_TISSUE].std())
    assert 8.0 <= sd <= 20.0


def test_cervical_t2_contrast_order(cervical_normal: CervicalPhantom) -> None:
    p = cervical_normal
    m = {label: mean_in(p.mri_t2, p.labels == label) for label in C if (p.labels == label).any()}
    assert m[C.CSF] == max(m.values())
    assert m[C.CSF] > 2 * m[C.SPINAL_CORD]
    assert m[C.SPINAL_CORD] > m[C.SOFT_TISSUE] > m[C.CORTICAL_BONE] > m[C.AIR]
    assert m[C.FAT] > m[C.SOFT_TISSUE]
    assert m[C.DISC] > m[C.SOFT_TISSUE]
    assert m[C.SOFT_TISSUE] < m[C.CANCELLOUS_BONE] < m[C.CSF]
    assert m[C.AIR] < 100  # Rician noise floor only


def test_cervical_dtypes_shapes_and_spacing() -> None:
    p = generate_cervical_case(seed=4, shape=(32, 64, 80))
    assert p.ct_hu.dtype == np.int16 and p.mri_t2.dtype == np.uint16
    assert p.labels.dtype == np.uint8
    assert p.ct_hu.shape == p.mri_t2.shape == p.labels.shape == (32, 64, 80)
    assert p.spacing_mm == pytest.approx((5.0, 2.4, 1.92))
    assert len(p.levels) == 32
    default = generate_cervical_case(seed=4)
    assert default.shape == (64, 192, 192)
    assert 2.0 <= default.spacing_mm[0] <= 3.0 and 0.5 <= default.spacing_mm[1] <= 1.0


def test_cervical_levels_run_cranio_caudal(cervical_normal: CervicalPhantom) -> None:
    p = cervical_normal
    vertebrae = [name for name in dict.fromkeys(p.levels) if "-" not in name]
    assert vertebrae[:7] == ["C2", "C3", "C4", "C5", "C6", "C7", "T1"]
    for upper, lower in itertools.pairwise(vertebrae[1:7]):
        disc = p.slices_of(f"{upper}-{lower}")
        assert disc.size >= 1, "bodies must be separated by a disc"
        assert p.slices_of(upper).max() < disc.min() <= disc.max() < p.slices_of(lower).min()
        assert (p.labels[disc] == C.DISC).any()
        assert (p.labels[p.slices_of(lower)] == C.CANCELLOUS_BONE).any()
    # The canal and cord run through every slice.
    per_slice = p.labels.reshape(p.shape[0], -1)
    assert ((per_slice == C.CSF).any(1) & (per_slice == C.SPINAL_CORD).any(1)).all()


# --- cervical: findings ---------------------------------------------------------------


def test_unknown_finding_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown findings"):
        generate_cervical_case(seed=1, findings={"fracture_of_everything"}, shape=SHAPE)


def test_injury_level_comes_from_the_seed() -> None:
    levels = {generate_cervical_case(seed=s, shape=(16, 32, 32)).injury_level for s in range(20)}
    assert levels <= set(CERVICAL_INJURY_LEVELS)
    assert len(levels) >= 3


def test_cord_edema(cervical: CervicalPhantom, cervical_normal: CervicalPhantom) -> None:
    edema = cervical.labels == C.CORD_EDEMA
    cord = cervical.labels == C.SPINAL_CORD
    assert mean_in(cervical.mri_t2, edema) > 1.5 * mean_in(cervical.mri_t2, cord)
    # Same voxels without the finding: ordinary cord signal, and CT nearly unchanged.
    assert mean_in(cervical_normal.mri_t2, edema) < 0.7 * mean_in(cervical.mri_t2, edema)
    ct_shift = mean_in(cervical.ct_hu, edema) - mean_in(cervical_normal.ct_hu, edema)
    assert abs(ct_shift) < 10
    assert not (cervical_normal.labels == C.CORD_EDEMA).any()
    z = np.flatnonzero(edema.any(axis=(1, 2)))
    at_level = {cervical.levels[i] for i in z}
    assert at_level & {cervical.injury_level, cervical.injury_disc}


def test_disc_injury(cervical: CervicalPhantom, cervical_normal: CervicalPhantom) -> None:
    hurt = cervical.labels == C.DISC_INJURY
    assert mean_in(cervical.mri_t2, hurt) > 1.3 * mean_in(
        cervical.mri_t2, cervical.labels == C.DISC
    )
    assert {cervical.levels[i] for i in np.flatnonzero(hurt.any(axis=(1, 2)))} == {
        cervical.injury_disc
    }

    def height(p: CervicalPhantom) -> float:
        return next(s.height_mm for s in p.segments if s.name == cervical.injury_disc)

    assert height(cervical) < 0.6 * height(cervical_normal)
    assert not (cervical_normal.labels == C.DISC_INJURY).any()


def _midline_run(column: npt.NDArray[np.uint8], values: tuple[int, ...]) -> int:
    return int(np.isin(column, values).sum())


def test_retropharyngeal_hematoma(
    cervical: CervicalPhantom, cervical_normal: CervicalPhantom
) -> None:
    blood = cervical.labels == C.HEMATOMA
    assert 50 <= mean_in(cervical.ct_hu, blood) <= 80
    soft = cervical.labels == C.SOFT_TISSUE
    assert mean_in(cervical.mri_t2, blood) > 2 * mean_in(cervical.mri_t2, soft)
    # Prevertebral thickness on the midline at C3: airway back wall to vertebral body.
    z = int(np.median(cervical.slices_of("C3")))
    xc = cervical.shape[2] // 2

    def prevertebral_mm(p: CervicalPhantom) -> float:
        col = p.labels[z, :, xc]
        bone = int(np.flatnonzero(col == C.CORTICAL_BONE)[0])
        air = np.flatnonzero(col[:bone] == C.AIR)
        return (bone - 1 - int(air.max())) * p.spacing_mm[1]

    assert prevertebral_mm(cervical) > prevertebral_mm(cervical_normal) + 5.0
    assert not (cervical_normal.labels == C.HEMATOMA).any()


def test_canal_stenosis(cervical: CervicalPhantom, cervical_normal: CervicalPhantom) -> None:
    bar = cervical.labels == C.STENOSIS
    assert mean_in(cervical.ct_hu, bar) > 200  # the disc-osteophyte bar shows on CT
    zs = cervical.slices_of(cervical.injury_disc)
    xc = cervical.shape[2] // 2
    canal = (C.CSF, C.SPINAL_CORD, C.CORD_EDEMA)

    def narrowest(p: CervicalPhantom) -> int:
        return min(_midline_run(p.labels[z, :, xc], canal) for z in zs)

    assert narrowest(cervical) < 0.75 * narrowest(cervical_normal)
    # The cord is compressed, not cut: it is still there on every slice.
    assert all((np.isin(cervical.labels[z], (C.SPINAL_CORD, C.CORD_EDEMA))).any() for z in zs)


def test_ligament_injury(cervical: CervicalPhantom, cervical_normal: CervicalPhantom) -> None:
    torn = cervical.labels == C.LIGAMENT_INJURY
    soft = cervical.labels == C.SOFT_TISSUE
    assert mean_in(cervical.mri_t2, torn) > 2 * mean_in(cervical.mri_t2, soft)
    # The interspinous gap widened: the injury replaced spinous-process bone.
    assert (torn & (cervical_normal.labels == C.POSTERIOR_ELEMENTS)).sum() > 0
    assert not (cervical_normal.labels == C.LIGAMENT_INJURY).any()


@pytest.mark.parametrize(
    "finding", [CORD_EDEMA, DISC_INJURY, CANAL_STENOSIS, LIGAMENT_INJURY, RETROPHARYNGEAL_HEMATOMA]
)
def test_each_finding_changes_only_its_region(
    finding: str, cervical_normal: CervicalPhantom
) -> None:
    p = generate_cervical_case(seed=SEED, findings={finding}, shape=SHAPE)
    changed = p.labels != cervical_normal.labels
    assert changed.any()
    # Outside the changed voxels the images are identical: findings never move the anatomy
    # or the noise.
    assert np.array_equal(p.ct_hu[~changed], cervical_normal.ct_hu[~changed])
    assert np.array_equal(p.mri_t2[~changed], cervical_normal.mri_t2[~changed])
    z = np.flatnonzero(changed.any(axis=(1, 2)))
    segments = {s.name: s for s in p.segments}
    injury = segments[p.injury_level]
    top = 0.0 if finding == RETROPHARYNGEAL_HEMATOMA else injury.top_mm - 15.0
    depth = (z + 0.5) * p.spacing_mm[0]
    assert (depth >= top).all() and (depth <= injury.bottom_mm + 40.0).all()


# --- lumbar ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "low", "high"),
    [
        (L.DURAL_CANAL, 5, 20),
        (L.LIGAMENTUM_FLAVUM, 50, 70),
        (L.DISC, 80, 100),
        (L.FAT, -100, -80),
        (L.CORTICAL_BONE, 700, 1200),
        (L.CANCELLOUS_BONE, 120, 300),
        (L.SOFT_TISSUE, 40, 60),
    ],
)
def test_lumbar_mixed_hu_by_tissue(
    lumbar: LumbarPhantom, label: L, low: float, high: float
) -> None:
    assert low <= mean_in(lumbar.mixed_ct_hu, lumbar.labels == label) <= high


def test_lumbar_cnr_is_in_the_reported_range(lumbar: LumbarPhantom) -> None:
    ct, lab = lumbar.mixed_ct_hu.astype(np.float64), lumbar.labels
    dc = ct[lab == L.DURAL_CANAL].mean()
    for other in (L.LIGAMENTUM_FLAVUM, L.DISC):
        x = ct[lab == other]
        assert 4.0 < abs(dc - x.mean()) / x.std() < 16.0


def test_dural_canal_mask(lumbar: LumbarPhantom) -> None:
    mask = lumbar.dural_canal_mask
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert np.array_equal(mask == 1, np.isin(lumbar.labels, (L.DURAL_CANAL, L.NERVE_ROOT)))
    assert mask.reshape(mask.shape[0], -1).any(axis=1).all(), "canal must be in every slice"
    inside = mask == 1
    assert 0 <= mean_in(lumbar.mixed_ct_hu, inside) <= 25
    assert (lumbar.mixed_ct_hu[inside] < 45).mean() > 0.95
    # The mask covers the low-HU (CSF-like) voxels of the canal and its surroundings.
    around = ndimage.binary_dilation(inside, structure=np.ones((1, 9, 9), bool))
    low = around & (lumbar.mixed_ct_hu >= -15) & (lumbar.mixed_ct_hu <= 35)
    assert (low & inside).sum() / low.sum() > 0.9


def test_mrm_is_bright_only_in_the_canal(lumbar: LumbarPhantom) -> None:
    inside = lumbar.dural_canal_mask == 1
    assert mean_in(lumbar.mrm, inside) > 5 * mean_in(lumbar.mrm, ~inside)
    assert mean_in(lumbar.mrm, ~inside) < 200


def test_nerve_roots_leave_the_sac_on_both_sides(lumbar: LumbarPhantom) -> None:
    x_mm = (np.arange(lumbar.shape[2]) - (lumbar.shape[2] - 1) / 2) * lumbar.spacing_mm[2]
    sac_x = x_mm[np.flatnonzero((lumbar.labels == L.DURAL_CANAL).any(axis=(0, 1)))]
    root_x = x_mm[np.flatnonzero((lumbar.labels == L.NERVE_ROOT).any(axis=(0, 1)))]
    assert root_x.max() > sac_x.max() + 5 and root_x.min() < sac_x.min() - 5


def test_herniation_compresses_the_canal(
    lumbar: LumbarPhantom, lumbar_normal: LumbarPhantom
) -> None:
    assert lumbar.herniation_level in {"L3-L4", "L4-L5", "L5-S1"}
    assert lumbar.herniation_side in {"left", "right", "central"}
    hernia = lumbar.labels == L.HERNIATION
    assert 75 <= mean_in(lumbar.mixed_ct_hu, hernia) <= 105
    assert mean_in(lumbar.mrm, hernia) < 200
    zs = lumbar_normal.slices_of(lumbar.herniation_level)
    assert (hernia[zs]).any()
    sac = lumbar.dural_canal_mask[zs].sum()
    assert sac < 0.9 * lumbar_normal.dural_canal_mask[zs].sum()
    assert lumbar_normal.herniation_level is None
    assert not (lumbar_normal.labels == L.HERNIATION).any()
    # Forcing the herniation changes nothing but the herniation itself.
    changed = lumbar.labels != lumbar_normal.labels
    assert np.array_equal(lumbar.mixed_ct_hu[~changed], lumbar_normal.mixed_ct_hu[~changed])


def test_lumbar_herniation_is_decided_by_seed() -> None:
    cases = [generate_lumbar_case(seed=s, shape=(16, 32, 32)) for s in range(12)]
    assert {c.herniation_level is None for c in cases} == {True, False}


def test_lumbar_levels_and_validation() -> None:
    p = generate_lumbar_case(seed=2, shape=(32, 64, 64), levels=("L4", "L5"))
    assert {"L4", "L4-L5", "L5"} <= set(p.levels)
    assert p.spacing_mm[0] == pytest.approx(80.0 / 32)
    default = generate_lumbar_case(seed=2, shape=(64, 64, 64))
    assert {"L3", "L4", "L5", "S1", "L3-L4", "L4-L5", "L5-S1"} <= set(default.levels)
    with pytest.raises(ValueError, match="contiguous"):
        generate_lumbar_case(seed=2, levels=("L3", "L5"))
    with pytest.raises(ValueError, match="vertebrae"):
        generate_lumbar_case(seed=2, levels=("C5",))


# --- determinism -----------------------------------------------------------------------


def test_same_seed_gives_identical_arrays(cervical: CervicalPhantom, lumbar: LumbarPhantom) -> None:
    again = generate_cervical_case(seed=SEED, findings=CERVICAL_FINDINGS, shape=SHAPE)
    for name in ("ct_hu", "mri_t2", "labels"):
        assert getattr(again, name).tobytes() == getattr(cervical, name).tobytes()
    assert again.injury_level == cervical.injury_level and again.levels == cervical.levels
    lum = generate_lumbar_case(seed=SEED, shape=SHAPE, herniation=True)
    for name in ("mixed_ct_hu", "mrm", "labels", "dural_canal_mask"):
        assert getattr(lum, name).tobytes() == getattr(lumbar, name).tobytes()


def test_different_seeds_give_different_anatomy(cervical_normal: CervicalPhantom) -> None:
    other = generate_cervical_case(seed=SEED + 1, shape=SHAPE)
    assert not np.array_equal(other.labels, cervical_normal.labels)
    assert not np.array_equal(other.ct_hu, cervical_normal.ct_hu)
    canal = [(p.labels == C.CSF).sum() for p in (other, cervical_normal)]
    assert canal[0] != canal[1]
    heights = [[s.height_mm for s in p.segments] for p in (other, cervical_normal)]
    assert heights[0] != heights[1]
    lum = [generate_lumbar_case(seed=s, shape=(32, 48, 48)) for s in (1, 2)]
    assert not np.array_equal(lum[0].dural_canal_mask, lum[1].dural_canal_mask)


# --- DICOM -----------------------------------------------------------------------------

DICOM_SHAPE = (24, 64, 64)


@pytest.fixture(scope="module")
def cervical_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[CervicalPhantom, dict]:
    p = generate_cervical_case(seed=3, findings={CORD_EDEMA}, shape=DICOM_SHAPE)
    out = tmp_path_factory.mktemp("cervical")
    files = write_cervical_case_dicom(
        p, out, patient_name="PHANTOM^CERVICAL^003", patient_id="PH-C-003"
    )
    return p, files


@pytest.fixture(scope="module")
def lumbar_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[LumbarPhantom, dict]:
    p = generate_lumbar_case(seed=3, shape=DICOM_SHAPE, herniation=True)
    out = tmp_path_factory.mktemp("lumbar")
    files = write_lumbar_case_dicom(
        p, out, patient_name="PHANTOM^LUMBAR^003", patient_id="PH-L-003"
    )
    return p, files


def read(paths: list[Path]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path) for path in paths]


def geometry(datasets: list[pydicom.Dataset]) -> dict[str, object]:
    first = datasets[0]
    return {
        "positions": [[float(v) for v in ds.ImagePositionPatient] for ds in datasets],
        "orientation": [float(v) for v in first.ImageOrientationPatient],
        "spacing": [float(v) for v in first.PixelSpacing],
        "thickness": float(first.SliceThickness),
        "matrix": (first.Rows, first.Columns),
        "frame_of_reference": first.FrameOfReferenceUID,
        "study": first.StudyInstanceUID,
    }


def test_case_writers_return_roles(cervical_files: tuple, lumbar_files: tuple) -> None:
    assert set(cervical_files[1]) == {ROLE_CT, ROLE_MRI_T2}
    assert set(lumbar_files[1]) == {ROLE_DECT_MIXED, ROLE_MRM, ROLE_NCCTM_MASK}
    assert len(cervical_files[1][ROLE_CT]) == DICOM_SHAPE[0]
    assert len(lumbar_files[1][ROLE_NCCTM_MASK]) == 1


def test_files_are_part10_explicit_little_endian(
    cervical_files: tuple, lumbar_files: tuple
) -> None:
    paths = [*cervical_files[1][ROLE_CT][:2], cervical_files[1][ROLE_MRI_T2][0]]
    paths += [lumbar_files[1][ROLE_MRM][0], *lumbar_files[1][ROLE_NCCTM_MASK]]
    for path in paths:
        raw = path.read_bytes()
        assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID):
            assert UID(uid).is_valid


def test_ct_and_mri_share_geometry(cervical_files: tuple) -> None:
    p, files = cervical_files
    ct, mr = read(files[ROLE_CT]), read(files[ROLE_MRI_T2])
    assert geometry(ct) == geometry(mr)
    assert ct[0].SeriesInstanceUID != mr[0].SeriesInstanceUID
    g = geometry(ct)
    assert g["spacing"] == pytest.approx(p.spacing_mm[1:])
    assert g["thickness"] == pytest.approx(p.spacing_mm[0])
    z = [pos[2] for pos in g["positions"]]  # type: ignore[index]
    assert np.allclose(np.diff(z), -p.spacing_mm[0]), "slice 0 is cranial (highest z)"
    assert [ds.InstanceNumber for ds in ct] == list(range(1, DICOM_SHAPE[0] + 1))


def test_lumbar_series_share_geometry(lumbar_files: tuple) -> None:
    files = lumbar_files[1]
    ct, mrm = read(files[ROLE_DECT_MIXED]), read(files[ROLE_MRM])
    assert geometry(ct) == geometry(mrm)
    seg = hd.seg.segread(files[ROLE_NCCTM_MASK][0])
    assert seg.StudyInstanceUID == ct[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == ct[0].FrameOfReferenceUID
    assert seg.SeriesInstanceUID not in {ct[0].SeriesInstanceUID, mrm[0].SeriesInstanceUID}
    assert (seg.Rows, seg.Columns) == (ct[0].Rows, ct[0].Columns)
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(v) for v in measures.PixelSpacing] == geometry(ct)["spacing"]
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == ct[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence} == {
        ds.SOPInstanceUID for ds in ct
    }


def test_seg_round_trips_the_mask(lumbar_files: tuple) -> None:
    p, files = lumbar_files
    ct = read(files[ROLE_DECT_MIXED])
    seg = pydicom.dcmread(files[ROLE_NCCTM_MASK][0])
    assert seg.SOPClassUID == SegmentationStorage
    assert seg.SegmentationType == "BINARY"
    segment = seg.SegmentSequence[0]
    assert segment.SegmentLabel == "Dural canal"
    assert segment.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    by_position = {
        tuple(round(float(v), 3) for v in f.PlanePositionSequence[0].ImagePositionPatient): i
        for i, f in enumerate(seg.PerFrameFunctionalGroupsSequence)
    }
    for k, ds in enumerate(ct):
        pos = tuple(round(float(v), 3) for v in ds.ImagePositionPatient)
        assert np.array_equal(frames[by_position[pos]], p.dural_canal_mask[k])


def test_pixels_round_trip(cervical_files: tuple, lumbar_files: tuple) -> None:
    p, files = cervical_files
    for k, ds in enumerate(read(files[ROLE_CT])):
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        assert np.array_equal(hu, p.ct_hu[k])
        assert ds.RescaleIntercept == -1024 and ds.RescaleSlope == 1
    for k, ds in enumerate(read(files[ROLE_MRI_T2])):
        assert np.array_equal(ds.pixel_array, p.mri_t2[k])
    lum, lfiles = lumbar_files
    ct = read(lfiles[ROLE_DECT_MIXED])
    hu = np.stack([pydicom.pixels.apply_rescale(ds.pixel_array, ds) for ds in ct])
    assert np.array_equal(hu, lum.mixed_ct_hu)
    assert np.array_equal(np.stack([ds.pixel_array for ds in read(lfiles[ROLE_MRM])]), lum.mrm)


COMMON = [
    "SOPClassUID", "SOPInstanceUID", "SpecificCharacterSet", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber", "Modality", "SeriesInstanceUID",
    "SeriesNumber", "PatientPosition", "FrameOfReferenceUID", "PositionReferenceIndicator",
    "Manufacturer", "InstanceNumber", "ImageType", "ImagePositionPatient",
    "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "SamplesPerPixel",
    "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PixelData", "WindowCenter", "WindowWidth", "ContentDate",
    "ContentTime", "AcquisitionNumber",
]  # fmt: skip
CT_ONLY = ["RescaleIntercept", "RescaleSlope", "KVP", "ConvolutionKernel"]
MR_ONLY = [
    "ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType", "RepetitionTime",
    "EchoTime", "EchoTrainLength", "MagneticFieldStrength",
]  # fmt: skip


def test_required_attributes(cervical_files: tuple, lumbar_files: tuple) -> None:
    ct = pydicom.dcmread(cervical_files[1][ROLE_CT][0])
    mr = pydicom.dcmread(cervical_files[1][ROLE_MRI_T2][0])
    dect = pydicom.dcmread(lumbar_files[1][ROLE_DECT_MIXED][0])
    for ds, specific in ((ct, CT_ONLY), (mr, MR_ONLY), (dect, CT_ONLY)):
        missing = [kw for kw in COMMON + specific if kw not in ds]
        assert not missing
    assert ct.SOPClassUID == CTImageStorage and mr.SOPClassUID == MRImageStorage
    assert ct.PatientName == "PHANTOM^CERVICAL^003" and ct.PatientID == "PH-C-003"
    assert list(ct.ImageType)[:3] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert "DE" in dect.SeriesDescription.split() and "Mixed" in dect.SeriesDescription
    assert float(dect.KVP) == 100
    assert mr.StudyDate == ct.StudyDate and len(ct.StudyDate) == 8


def test_writing_is_reproducible(tmp_path: Path) -> None:
    p = generate_lumbar_case(seed=5, shape=(12, 32, 32))
    a = write_lumbar_case_dicom(p, tmp_path / "a", patient_name="P^L", patient_id="L5")
    b = write_lumbar_case_dicom(p, tmp_path / "b", patient_name="P^L", patient_id="L5")
    for role in a:
        for x, y in zip(a[role], b[role], strict=True):
            assert filecmp.cmp(x, y, shallow=False), f"{role}: {x.name} differs"
    other = write_lumbar_case_dicom(p, tmp_path / "c", patient_name="P^L", patient_id="L6")
    uid = [pydicom.dcmread(f[ROLE_MRM][0]).StudyInstanceUID for f in (a, other)]
    assert uid[0] != uid[1], "another patient gets other UIDs"


def test_default_case_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    p = generate_cervical_case(seed=1, findings=CERVICAL_FINDINGS)
    write_cervical_case_dicom(p, tmp_path, patient_name="P^C", patient_id="C1")
    # Budget is ~2 s on 2 cores; a per-voxel Python loop would take minutes.
    assert time.perf_counter() - start < 4.0


# --- dciodvfy ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dciodvfy() -> Callable[[Path], str]:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.fail(
            "dciodvfy not found: install David Clunie's dicom3tools "
            "(Debian/Ubuntu: `apt-get install -y dicom3tools`)"
        )

    def run(path: Path) -> str:
        done = subprocess.run([binary, str(path)], capture_output=True, text=True, check=False)
        return done.stdout + done.stderr

    return run


def test_dciodvfy_reports_no_errors(
    dciodvfy: Callable[[Path], str], cervical_files: tuple, lumbar_files: tuple
) -> None:
    paths = [
        cervical_files[1][ROLE_CT][0],
        cervical_files[1][ROLE_MRI_T2][-1],
        lumbar_files[1][ROLE_DECT_MIXED][0],
        lumbar_files[1][ROLE_MRM][0],
        lumbar_files[1][ROLE_NCCTM_MASK][0],
    ]
    for path in paths:
        report = dciodvfy(path)
        errors = [line for line in report.splitlines() if "Error" in line]
        assert not errors, f"{path.parent.name}/{path.name}:\n" + "\n".join(errors)
        assert report.strip(), "dciodvfy printed nothing"
