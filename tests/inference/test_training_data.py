"""Training on a coordinator's own cases: a cases directory and the platform's stored cases.

The cases are phantoms written as DICOM (the CT by the phantom writer, the NC-CTM label as a
SEG by our own output code, the MRI as a series), trained for a few iterations through the
commands; bad data ends in a CommandError that names the case and the reason, and nothing is
registered.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import CommandError, call_command

from cases.ingest import instance_ingest
from cases.models import Case, Region, Series, SeriesRole, Study
from cases.services import case_create
from inference.dicom_outputs import ncctm_mask_datasets
from inference.models import ModelVersion
from inference.ncctm import STRUCTURES
from inference.ncctm.data import lumbar_structure_labels
from inference.phantoms import (
    generate_cervical_case,
    generate_lumbar_case,
    write_cervical_case_dicom,
    write_lumbar_case_dicom,
)
from inference.series_io import volume_from_datasets
from inference.training_data import TrainingDataError, read_cases_dir
from tests.inference.helpers import (
    reference_provenance,
    write_ncctm_cases_dir,
    write_pseudomri_cases_dir,
)

NCCTM_FAST = (
    "--spacing", "10,2.8125,2.8125", "--patch", "16,32,32", "--channels", "8,16",
    "--batch-size", "2", "--learning-rate", "0.01",
)  # fmt: skip
PSEUDOMRI_FAST = ("--channels", "8,16", "--batch-size", "4", "--steps", "1")


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="session")
def ncctm_cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ncctm_cases_dir(tmp_path_factory.mktemp("ncctm-cases"), seeds=(0, 1, 2, 3))


@pytest.fixture(scope="session")
def pseudomri_cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pseudomri_cases_dir(tmp_path_factory.mktemp("pseudomri-cases"), seeds=(0, 1, 2))


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "cases"
    shutil.copytree(source, target)
    return target


# --- Django-free reading ------------------------------------------------------------------------


def test_a_cases_dir_reads_the_seg_labels_on_the_ct_grid(ncctm_cases_dir: Path) -> None:
    said: list[str] = []
    data = read_cases_dir(ncctm_cases_dir, task="ncctm", structures=STRUCTURES, say=said.append)
    assert [c.case_id for c in data.cases] == ["case-001", "case-002", "case-003", "case-004"]
    assert said[0] == "case-001: PATIENT-L0"  # the mapping is printed, never stored
    for seed, case in enumerate(data.cases):
        phantom = generate_lumbar_case(seed=seed, shape=case.ct_hu.shape)
        np.testing.assert_array_equal(case.ct_hu, phantom.mixed_ct_hu)
        np.testing.assert_array_equal(case.labels, lumbar_structure_labels(phantom.labels))
        assert case.spacing_mm == pytest.approx(phantom.spacing_mm)
    summary = data.summary
    assert summary["cases"] == 4 and summary["source"] == "cases directory"
    assert len(summary["listing_sha256"]) == 64
    assert "PATIENT" not in json.dumps(summary) and "MRN" not in json.dumps(summary)
    # The same files give the same listing checksum (another label gives another: below).
    again = read_cases_dir(ncctm_cases_dir, task="ncctm", structures=STRUCTURES)
    assert again.summary["listing_sha256"] == summary["listing_sha256"]


def test_a_label_mask_series_reads_like_the_seg(ncctm_cases_dir: Path, tmp_path: Path) -> None:
    root = _copy(ncctm_cases_dir, tmp_path)
    case = root / "PATIENT-L1"
    volume = volume_from_datasets([pydicom.dcmread(p) for p in sorted((case / "ct").iterdir())])
    labels = lumbar_structure_labels(generate_lumbar_case(seed=1, shape=volume.hu.shape).labels)
    shutil.rmtree(case / "label")
    (case / "label").mkdir()
    masks = ncctm_mask_datasets(
        volume, labels, provenance=reference_provenance(volume), structures=STRUCTURES
    )
    for k, ds in enumerate(masks):
        ds.save_as(case / "label" / f"mask{k:03d}.dcm", enforce_file_format=True)
    data = read_cases_dir(root, task="ncctm", structures=STRUCTURES)
    np.testing.assert_array_equal(data.cases[1].labels, labels)
    original = read_cases_dir(ncctm_cases_dir, task="ncctm", structures=STRUCTURES)
    assert data.summary["listing_sha256"] != original.summary["listing_sha256"]


def test_a_pseudomri_cases_dir_reads_paired_volumes(pseudomri_cases_dir: Path) -> None:
    data = read_cases_dir(pseudomri_cases_dir, task="pseudomri")
    phantom = generate_cervical_case(seed=2, shape=data.cases[2].ct_hu.shape)
    np.testing.assert_array_equal(data.cases[2].ct_hu, phantom.ct_hu)
    np.testing.assert_array_equal(data.cases[2].mri, phantom.mri_t2)


# --- training through the commands --------------------------------------------------------------


@pytest.mark.django_db
def test_train_ncctm_on_a_cases_dir_registers_the_model(
    ncctm_cases_dir: Path, tmp_path: Path
) -> None:
    output = _call(
        "train_ncctm", "--cases-dir", str(ncctm_cases_dir), "--held-out", "1",
        "--iterations", "60", *NCCTM_FAST, "--model-version", "own-1", "--out", str(tmp_path),
    )  # fmt: skip
    assert "4 cases read" in output and "step 60/60" in output and "registered" in output
    model = ModelVersion.objects.get(task="ncctm", name="ncctm-unet", version="own-1")
    summary = model.training_data
    assert summary["source"] == "cases directory" and summary["cases"] == 4
    assert summary["cases_dir"] == str(ncctm_cases_dir.resolve())
    assert len(summary["test_ids"]) == 1 and len(summary["train_ids"]) == 3
    assert set(summary["test_ids"]).isdisjoint(summary["train_ids"])
    assert "PATIENT" not in json.dumps(summary) and "MRN" not in json.dumps(summary)
    assert "4 cases from the folder" in model.description
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["metrics"] == model.metrics and written["training_data"] == summary
    # Learning happened: the loss of the last steps is well below that of the first ones.
    assert model.metrics["final_loss"] < 0.8 * model.metrics["first_loss"], model.metrics
    assert set(model.metrics["test"]) >= {"dural_canal", "nerve_roots", "foreground"}


@pytest.mark.django_db
def test_train_pseudomri_on_a_cases_dir_registers_the_model(
    pseudomri_cases_dir: Path, tmp_path: Path
) -> None:
    output = _call(
        "train_pseudomri", "--cases-dir", str(pseudomri_cases_dir), "--held-out", "1",
        "--iterations", "60", *PSEUDOMRI_FAST, "--model-version", "own-1", "--activate",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert "registered and activated" in output
    model = ModelVersion.objects.get(task="pseudomri", version="own-1")
    assert model.training_data["cases"] == 3 and len(model.training_data["train_ids"]) == 2
    assert model.training_data["slices"] == 2 * 12
    assert model.metrics["final_loss"] < 0.8 * model.metrics["first_loss"], model.metrics
    assert set(model.metrics["test"]) == {"model", "baseline"}
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == model.metrics


# --- bad data ------------------------------------------------------------------------------------


def _swap_label(root: Path) -> None:
    """Case L1 gets the SEG of case L0: it references another CT."""
    shutil.copy(root / "PATIENT-L0" / "label" / "seg.dcm", root / "PATIENT-L1" / "label")


def _resample_label(root: Path) -> None:
    """A label-mask series on another grid (half the matrix)."""
    case = root / "PATIENT-L2"
    volume = volume_from_datasets([pydicom.dcmread(p) for p in sorted((case / "ct").iterdir())])
    shutil.rmtree(case / "label")
    (case / "label").mkdir()
    masks = ncctm_mask_datasets(
        volume,
        np.zeros(volume.hu.shape, np.uint8),
        provenance=reference_provenance(volume),
        structures=STRUCTURES,
    )
    for k, ds in enumerate(masks):
        ds.Rows, ds.Columns = ds.Rows // 2, ds.Columns // 2
        ds.PixelSpacing = [2 * float(v) for v in ds.PixelSpacing]
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 4]
        ds.save_as(case / "label" / f"mask{k:03d}.dcm", enforce_file_format=True)


def _mr_as_ct(root: Path) -> None:
    """The CT folder of case L3 holds an MR series."""
    phantom = generate_lumbar_case(seed=3, shape=(16, 64, 64))
    files = write_lumbar_case_dicom(phantom, root / "mrm", patient_name="X^Y", patient_id="X")
    shutil.rmtree(root / "PATIENT-L3" / "ct")
    shutil.copytree(files["MRM"][0].parent, root / "PATIENT-L3" / "ct")
    shutil.rmtree(root / "mrm")


def _junk_file(root: Path) -> None:
    (root / "PATIENT-L0" / "ct" / "notes.dcm").write_bytes(b"not DICOM at all")


def _no_label(root: Path) -> None:
    shutil.rmtree(root / "PATIENT-L2" / "label")


def _one_pixel_spacing(root: Path) -> None:
    """A CT file whose PixelSpacing holds one value (DICOM asks for two)."""
    path = sorted((root / "PATIENT-L1" / "ct").iterdir())[0]
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = [0.7]
    ds.save_as(path)


def _renumbered_segment(root: Path) -> None:
    """The SEG's nerve roots are segment 3: a label the two-structure model does not know."""
    path = root / "PATIENT-L2" / "label" / "seg.dcm"
    ds = pydicom.dcmread(path)
    ds.SegmentSequence[1].SegmentNumber = 3
    for frame in ds.PerFrameFunctionalGroupsSequence:
        item = frame.SegmentIdentificationSequence[0]
        if item.ReferencedSegmentNumber == 2:
            item.ReferencedSegmentNumber = 3
    ds.save_as(path)


def _five_orientation_values(root: Path) -> None:
    path = sorted((root / "PATIENT-L0" / "ct").iterdir())[2]
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1]
    ds.save_as(path)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_swap_label, "PATIENT-L1: the SEG is not on the CT grid"),
        (_resample_label, "PATIENT-L2: the label-mask series is not on the CT grid"),
        (_mr_as_ct, "PATIENT-L3: instance .* is MR, not CT"),
        (_junk_file, "PATIENT-L0/ct/notes.dcm is not a usable DICOM file"),
        (_no_label, "PATIENT-L2 has no label/ folder"),
        (_one_pixel_spacing, "PATIENT-L1: instance .* has 1 PixelSpacing values, not 2"),
        (_renumbered_segment, "PATIENT-L2: the SEG's segments are numbered 1, 3"),
        (_five_orientation_values, "PATIENT-L0: instance .* has 5 ImageOrientationPatient"),
    ],
)
def test_bad_ncctm_cases_are_refused_and_nothing_is_registered(
    ncctm_cases_dir: Path, tmp_path: Path, damage: object, message: str
) -> None:
    root = _copy(ncctm_cases_dir, tmp_path)
    damage(root)  # type: ignore[operator]
    with pytest.raises(CommandError, match=message):
        call_command(
            "train_ncctm", "--cases-dir", str(root), "--held-out", "1", "--iterations", "1",
            *NCCTM_FAST, "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert not ModelVersion.objects.exists()
    assert not (tmp_path / "out").exists()


def _other_mri(root: Path, tmp_path: Path) -> None:
    """Case C1 gets the MRI of another patient (another frame of reference)."""
    phantom = generate_cervical_case(seed=1, shape=(12, 64, 64))
    files = write_cervical_case_dicom(
        phantom, tmp_path / "other", patient_name="X^Y", patient_id="OTHER"
    )
    shutil.rmtree(root / "PATIENT-C1" / "mri")
    shutil.copytree(files["MRI-T2"][0].parent, root / "PATIENT-C1" / "mri")


def _shifted_mri(root: Path, tmp_path: Path) -> None:
    """Case C2's MRI slices are moved 3 mm (same frame of reference, not co-registered)."""
    for path in (root / "PATIENT-C2" / "mri").iterdir():
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 3.0]
        ds.save_as(path)


def _ct_as_mri(root: Path, tmp_path: Path) -> None:
    shutil.rmtree(root / "PATIENT-C0" / "mri")
    shutil.copytree(root / "PATIENT-C0" / "ct", root / "PATIENT-C0" / "mri")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_other_mri, "PATIENT-C1: the MRI series has another frame of reference"),
        (_shifted_mri, "PATIENT-C2: the MRI series is not on the CT grid: .* 3.00 mm"),
        (_ct_as_mri, "PATIENT-C0: the MRI series is CT, not MR"),
    ],
)
def test_bad_pseudomri_cases_are_refused_and_nothing_is_registered(
    pseudomri_cases_dir: Path, tmp_path: Path, damage: object, message: str
) -> None:
    root = _copy(pseudomri_cases_dir, tmp_path)
    damage(root, tmp_path)  # type: ignore[operator]
    with pytest.raises(CommandError, match=message):
        call_command(
            "train_pseudomri", "--cases-dir", str(root), "--held-out", "1",
            "--iterations", "1", *PSEUDOMRI_FAST, "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_too_few_cases_and_missing_dirs_are_refused(
    ncctm_cases_dir: Path, pseudomri_cases_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match=r"4 cases are too few: 2 held-out .* in 3 folds"):
        call_command(
            "train_ncctm", "--cases-dir", str(ncctm_cases_dir), "--held-out", "2",
            "--folds", "3", "--iterations", "1", *NCCTM_FAST, "--out", str(tmp_path),
        )  # fmt: skip
    with pytest.raises(CommandError, match="3 cases are too few: 3 held-out"):
        call_command(
            "train_pseudomri", "--cases-dir", str(pseudomri_cases_dir), "--held-out", "3",
            "--iterations", "1", *PSEUDOMRI_FAST, "--out", str(tmp_path),
        )  # fmt: skip
    with pytest.raises(CommandError, match="does not exist"):
        call_command("train_ncctm", "--cases-dir", str(tmp_path / "absent"), "--no-register")
    with pytest.raises(CommandError, match="holds no case folders"):
        call_command("train_pseudomri", "--cases-dir", str(tmp_path), "--no-register")
    with pytest.raises(CommandError, match="one of the arguments"):
        call_command("train_ncctm", "--no-register")
    assert not ModelVersion.objects.exists()


def test_reading_refuses_an_unknown_task(ncctm_cases_dir: Path) -> None:
    with pytest.raises(TrainingDataError, match="unknown task"):
        read_cases_dir(ncctm_cases_dir, task="other")


# --- the platform's stored cases ----------------------------------------------------------------


def _store_case(files: dict[str, list[Path]], roles: dict[str, SeriesRole], label: str) -> Case:
    uids = set()
    for role, paths in files.items():
        for path in paths:
            outcome = instance_ingest(data=path.read_bytes(), role=roles[role])
            assert outcome.status == "stored", outcome.reason
            uids.add(outcome.study_instance_uid)
    studies = Study.objects.filter(study_instance_uid__in=uids)
    return case_create(actor=None, label=label, region=Region.LUMBAR, studies=studies)


@pytest.fixture(scope="session")
def lumbar_phantom_files(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, list[Path]]]:
    root = tmp_path_factory.mktemp("lumbar-platform")
    return [
        write_lumbar_case_dicom(
            generate_lumbar_case(seed=seed, shape=(16, 64, 64)),
            root / str(seed),
            patient_name=f"DOE^P{seed}",
            patient_id=f"MRN-P{seed}",
        )
        for seed in range(3)
    ]


@pytest.mark.django_db
def test_train_ncctm_on_the_platforms_cases(
    lumbar_phantom_files: list[dict[str, list[Path]]], tmp_path: Path
) -> None:
    roles = {"DECT-mixed": SeriesRole.DECT_MIXED, "MRM": SeriesRole.MRM}
    roles["NC-CTM-mask"] = SeriesRole.NCCTM_MASK  # the phantom's reference SEG, uploaded
    cases = [
        _store_case(files, roles, f"NCCTM-TRAIN-{k}")
        for k, files in enumerate(lumbar_phantom_files)
    ]
    with pytest.raises(CommandError, match="no case with id"):
        call_command("train_ncctm", "--cases", "3f1c2a9e-0000-4000-8000-000000000000")
    with pytest.raises(CommandError, match="'nope' is not a case id"):
        call_command("train_ncctm", "--cases", "nope")
    output = _call(
        "train_ncctm", "--cases", "all", "--held-out", "1", "--iterations", "4", *NCCTM_FAST,
        "--model-version", "platform-1", "--out", str(tmp_path),
    )  # fmt: skip
    assert "3 cases read" in output and "registered" in output
    model = ModelVersion.objects.get(version="platform-1")
    summary = model.training_data
    assert summary["source"] == "platform cases" and summary["cases"] == 3
    assert sorted(summary["case_ids"]) == sorted(str(c.pk) for c in cases)
    assert "MRN" not in json.dumps(summary) and "DOE" not in json.dumps(summary)
    assert "3 of the platform's stored cases" in model.description

    # A case whose reference is gone is refused by id; two cases cannot make the split.
    Series.objects.filter(study__case=cases[0], role=SeriesRole.NCCTM_MASK).update(
        role=SeriesRole.OTHER
    )
    with pytest.raises(CommandError, match="case NCCTM-TRAIN-0 has no uploaded CT and NC-CTM"):
        call_command("train_ncctm", "--cases", str(cases[0].pk), *NCCTM_FAST)
    with pytest.raises(CommandError, match="2 cases are too few"):
        call_command("train_ncctm", "--cases", "all", "--held-out", "1", *NCCTM_FAST)
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_train_pseudomri_on_the_platforms_cases(tmp_path: Path) -> None:
    roles = {"CT": SeriesRole.CT, "MRI-T2": SeriesRole.MRI_T2}
    cases = []
    for seed in range(2):
        files = write_cervical_case_dicom(
            generate_cervical_case(seed=seed, shape=(12, 64, 64)),
            tmp_path / str(seed),
            patient_name=f"DOE^C{seed}",
            patient_id=f"MRN-C{seed}",
        )
        cases.append(_store_case(files, roles, f"CSCI-TRAIN-{seed}"))
    ids = ",".join(str(c.pk) for c in cases)
    output = _call(
        "train_pseudomri", "--cases", ids, "--held-out", "1", "--iterations", "4",
        *PSEUDOMRI_FAST, "--model-version", "platform-1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert "2 cases read" in output and "registered" in output
    model = ModelVersion.objects.get(version="platform-1")
    assert sorted(model.training_data["case_ids"]) == sorted(str(c.pk) for c in cases)
