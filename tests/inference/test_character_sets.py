"""Both models run on CTs written in each Japanese character set and on CTs missing Type 2 data.

A hospital's CT arrives in whatever Specific Character Set its scanner writes; Japanese
scanners write ISO 2022 IR 87 with an empty first value (the default repertoire), half-width
katakana (ISO_IR 13 / ISO 2022 IR 13), the supplementary kanji of ISO 2022 IR 159, or UTF-8.
Whatever ingest accepts, the jobs must take, and their outputs must declare a set that encodes
the text they copy.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pytest_django.fixtures import Settings

from cases.models import Case, Instance, Region, SeriesRole, Study
from cases.storage import open_stored
from inference import jobs, worker
from inference.dicom_outputs import output_character_set
from inference.models import InferenceJob, JobState, ModelTask, ModelVersion
from inference.phantoms import generate_lumbar_case, write_lumbar_case_dicom
from tests.inference.conftest import LUMBAR_ROLES, import_phantom_case
from tests.inference.helpers import series_of

pytestmark = pytest.mark.django_db

SHAPE = (12, 48, 48)

# (Specific Character Set, a patient name it can encode). The names are de-identified at
# ingest, the character set is kept: the outputs must carry both through.
JAPANESE_SETS = {
    "ISO_IR 13": ("ISO_IR 13", "ﾔﾏﾀﾞ^ﾀﾛｳ"),
    "IR 87": (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    "IR 13 + 87": (["ISO 2022 IR 13", "ISO 2022 IR 87"], "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    "IR 6 + 87 + 159": (["ISO 2022 IR 6", "ISO 2022 IR 87", "ISO 2022 IR 159"], "山田^太郎"),
    "ISO_IR 192": ("ISO_IR 192", "山田^太郎=やまだ^たろう"),
}
# Type 2 attributes a scanner may leave out altogether, and Type 3 ones nothing must need.
LEFT_OUT = (
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "PatientAge",
    "BodyPartExamined",
    "SeriesNumber",
    "InstanceNumber",
    "SliceLocation",
    "SpacingBetweenSlices",
)


@pytest.fixture(autouse=True)
def _no_heartbeat_thread_writes(settings: Settings) -> None:
    settings.INFERENCE_HEARTBEAT_SECONDS = 3600  # as in test_jobs.py: the test's transaction


def _rewrite(paths: list[Path], *, charset: object, name: str, left_out: tuple[str, ...]) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SpecificCharacterSet = charset
        ds.PatientName = name
        ds.StudyDescription = "腰椎 CT" if name != "ﾔﾏﾀﾞ^ﾀﾛｳ" else "ﾖｳﾂｲ"
        for keyword in left_out:
            ds.pop(keyword, None)
        ds.save_as(path, enforce_file_format=True)
        assert str(pydicom.dcmread(path).PatientName) == name  # the set really encodes it


def _japanese_case(tmp_path: Path, key: str, charset: object, name: str, left_out=()) -> Case:
    phantom = generate_lumbar_case(seed=11, shape=SHAPE)
    files = write_lumbar_case_dicom(
        phantom, tmp_path, patient_name="PLACEHOLDER", patient_id=f"JA-{key}"
    )
    _rewrite(files["DECT-mixed"], charset=charset, name=name, left_out=left_out)
    case = import_phantom_case(files, LUMBAR_ROLES, f"JA-{key}", Region.LUMBAR)
    assert Study.objects.filter(case=case).exists()
    return case


def _stored(instance: Instance) -> pydicom.Dataset:
    with open_stored(instance.storage_key) as handle:
        return pydicom.dcmread(io.BytesIO(handle.read()))


def _run_both_models(case: Case) -> list[InferenceJob]:
    ct = series_of(case, SeriesRole.DECT_MIXED)
    done = []
    for task, parameters in ((ModelTask.NCCTM, {}), (ModelTask.PSEUDO_MRI, {"steps": 2})):
        job = jobs.job_create(
            actor=None, case=case, source_series=ct, task=task, parameters=parameters
        )
        worker.job_run(job_id=job.pk)
        job.refresh_from_db()
        assert (job.state, job.attempts) == (JobState.SUCCEEDED, 1), job.error
        done.append(job)
    return done


@pytest.mark.parametrize("key", list(JAPANESE_SETS))
def test_both_models_run_on_a_ct_in_each_japanese_character_set(
    key: str,
    tmp_path: Path,
    ncctm_model: ModelVersion,
    pseudomri_model: ModelVersion,
) -> None:
    charset, name = JAPANESE_SETS[key]
    case = _japanese_case(tmp_path, key.replace(" ", ""), charset, name)
    ct = series_of(case, SeriesRole.DECT_MIXED)
    source = _stored(ct.instances.first())  # type: ignore[arg-type]
    expected = output_character_set(source.get("SpecificCharacterSet"))
    modalities = set()
    for job in _run_both_models(case):
        for series in job.output_series.all():
            output = _stored(series.instances.first())  # type: ignore[arg-type]
            modalities.add(output.Modality)
            assert output.get("SpecificCharacterSet") == expected
            assert output.PatientName == source.PatientName
            assert output.StudyInstanceUID == source.StudyInstanceUID
    assert modalities == {"SEG", "CT", "MR"}


def test_both_models_run_on_a_ct_missing_type_2_and_optional_attributes(
    tmp_path: Path, ncctm_model: ModelVersion, pseudomri_model: ModelVersion
) -> None:
    charset, name = JAPANESE_SETS["IR 87"]
    case = _japanese_case(tmp_path, "bare", charset, name, left_out=LEFT_OUT)
    for job in _run_both_models(case):
        for series in job.output_series.all():
            output = _stored(series.instances.first())  # type: ignore[arg-type]
            # Type 2 in every output IOD: present, empty.
            assert output.PatientBirthDate == "" and output.AccessionNumber == ""


@pytest.mark.parametrize(
    ("declared", "written"),
    [
        (None, None),
        ("", None),
        ("ISO_IR 100", "ISO_IR 100"),
        (["", "ISO 2022 IR 87"], ["ISO 2022 IR 6", "ISO 2022 IR 87"]),
        (["ISO 2022 IR 13", "ISO 2022 IR 87"], ["ISO 2022 IR 13", "ISO 2022 IR 87"]),
        ("GB18030", "GB18030"),
        ("ISO_IR100", "ISO_IR 192"),  # not a defined term: UTF-8 encodes what was decoded
        (["ISO_IR 100", "ISO 2022 IR 87"], "ISO_IR 192"),  # extensions mixed with a plain set
    ],
)
def test_outputs_declare_a_valid_set_for_the_text_they_copy(declared: object, written: object):
    assert output_character_set(declared) == written
