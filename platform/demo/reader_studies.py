"""Demo reader studies on the phantom cases, created idempotently by ``manage.py demo``.

* "Pseudo-MRI vs real MRI (SLIC)" on the cervical cases, read by reader-a and reader-b.
* "NC-CTM vs MRM (intraoperative agreement)" on the lumbar cases, read by the surgeon, who also
  enters the intraoperative findings (pre-filled from each phantom's herniation, marked
  simulated).
* A SLIC study already completed by two clearly labelled simulated readers (sim-reader-1 and
  sim-reader-2, "SIMULATED" in their names), so that a coordinator sees progress, exports and
  statistics at once.

The phantom cases have no pseudo-MRI of their own until a trained model has run on them; the
demo then stores a stand-in made by the inference app's intensity-mapping baseline (HU to MRI
signal, fitted on other phantoms) through the same derived-series path as a model's output,
with a provenance that says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from cases.models import Case, Region, Series, SeriesRole
from readerstudy import protocols, services
from readerstudy.models import (
    MemberRole,
    ReaderAssignment,
    ReaderStudy,
    ReferenceSource,
)

SLIC_TITLE = "Pseudo-MRI vs real MRI (SLIC), demo"
NCCTM_TITLE = "NC-CTM vs MRM (intraoperative agreement), demo"
COMPLETED_TITLE = "SLIC, completed by simulated readers (demo)"
SIMULATED_READERS = (
    ("sim-reader-1", "SIMULATED", "Reader 1 (demo data)"),
    ("sim-reader-2", "SIMULATED", "Reader 2 (demo data)"),
)
BASELINE_SEEDS = (9001, 9002, 9003)
SIMULATED_PROVENANCE = "SIMULATED for the demo from the phantom's herniation; not a surgery."


@dataclass
class ReaderStudyDemoReport:
    studies_created: int = 0
    pseudo_mri_series_created: int = 0
    readings_simulated: int = 0


def _user(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def _cases(region: Region) -> list[Case]:
    return list(Case.objects.filter(region=region, label__regex=r"^(CSCI|NCCTM)-\d{3}$"))


def _pseudo_mri_ensure(cases: list[Case], report: ReaderStudyDemoReport) -> None:
    """A stand-in pseudo-MRI for each case without one (see the module docstring)."""
    missing = [
        case
        for case in cases
        if not Series.objects.filter(study__case=case, role=SeriesRole.PSEUDO_MRI).exists()
    ]
    if not missing:
        return
    # Imported here: numpy-heavy inference code is only needed when stand-ins are made.
    from cases.ingest import derived_instance_store
    from inference.dicom_outputs import Provenance, pseudo_mri_datasets
    from inference.pseudomri.baseline import IntensityMappingBaseline
    from inference.pseudomri.data import phantom_pairs
    from inference.series_io import load_ct_volume

    baseline = IntensityMappingBaseline().fit(phantom_pairs(BASELINE_SEEDS))
    checksum = hashlib.sha256(repr(baseline.to_dict()).encode()).hexdigest()
    for case in missing:
        ct = Series.objects.filter(study__case=case, role=SeriesRole.CT).first()
        if ct is None:
            continue
        volume = load_ct_volume(ct)
        provenance = Provenance(
            job_id=f"demo-baseline-{case.label}",
            task="pseudo-mri",
            model_name="intensity-mapping-baseline (demo stand-in)",
            model_version="demo",
            model_sha256=checksum,
            source_series_uid=ct.series_instance_uid,
            created=timezone.now(),
        )
        mri = baseline.predict(volume.hu)
        for dataset in pseudo_mri_datasets(volume, mri, provenance=provenance):
            derived_instance_store(
                dataset=dataset,
                case=case,
                source_series=ct,
                role=SeriesRole.PSEUDO_MRI,
                provenance=provenance.as_json(),
            )
        report.pseudo_mri_series_created += 1


def _study_ensure(
    *,
    title: str,
    protocol: str,
    coordinator: User,
    cases: list[Case],
    readers: list[User],
    report: ReaderStudyDemoReport,
) -> ReaderStudy | None:
    existing = ReaderStudy.objects.filter(title=title).first()
    if existing is not None:
        return None
    study = services.study_create_from_template(actor=coordinator, protocol=protocol, title=title)
    result = services.study_cases_add(actor=coordinator, study=study, cases=cases)
    for reader in readers:
        services.reader_assign(actor=coordinator, study=study, reader=reader)
    if result.added:
        services.study_status_set(actor=coordinator, study=study, status="active")
    report.studies_created += 1
    return study


# --- Simulated readings ----------------------------------------------------------------------


def _truth(case: Case) -> dict[str, Any]:
    """What a phantom case shows, as SLIC answers (from the phantom that made it)."""
    from demo.phantom_files import CERVICAL_FINDINGS
    from inference import phantoms

    index = int(case.label.rsplit("-", 1)[1])
    findings = CERVICAL_FINDINGS[index - 1] if index <= len(CERVICAL_FINDINGS) else ()
    phantom = phantoms.generate_cervical_case(
        seed=1000 + index, findings=findings, shape=(16, 48, 48)
    )
    found = set(phantom.findings)
    disc, ligament = phantoms.DISC_INJURY in found, phantoms.LIGAMENT_INJURY in found
    edema = phantoms.CORD_EDEMA in found
    return {
        "retropharyngeal_hematoma": phantoms.RETROPHARYNGEAL_HEMATOMA in found,
        "disc_injury": disc,
        "cord_edema": edema,
        "sci_level": phantom.injury_level if edema else "none",
        "canal_stenosis": phantoms.CANAL_STENOSIS in found,
        "interspinous_ligament_injury": ligament,
        "slic_ct_morphology": 3 if disc and ligament else 2 if disc else 1 if found else 0,
        "slic_mri_dlc": 2 if ligament else 1 if disc else 0,
    }


def _simulated_answers(truth: dict[str, Any], rng: random.Random, error: float) -> dict[str, Any]:
    """``truth`` with each answer wrong with probability ``error``."""
    answers = dict(truth)
    for key, value in truth.items():
        if rng.random() >= error:
            continue
        if isinstance(value, bool):
            answers[key] = not value
        elif key == "sci_level":
            answers[key] = rng.choice(["none", "C4", "C5", "C6"])
        elif key == "slic_ct_morphology":
            answers[key] = min(4, max(0, value + rng.choice([-1, 1])))
        elif key == "slic_mri_dlc":
            answers[key] = min(2, max(0, value + rng.choice([-1, 1])))
    return answers


def _simulate_session(
    assignment: ReaderAssignment,
    *,
    truths: dict[str, dict[str, Any]],
    start: dt.datetime,
    error: float,
    report: ReaderStudyDemoReport,
) -> None:
    reader = assignment.reader
    rng = random.Random(f"{reader.get_username()}/{assignment.session.order}")
    moment = start
    for position, case_id in enumerate(assignment.case_order, start=1):
        reading, _ = services.reading_open(
            actor=reader, assignment=assignment, position=position, now=moment
        )
        assert reading is not None
        # Heartbeats every 30 s while the simulated reader works for 1.5 to 4 minutes.
        for _ in range(rng.randint(3, 8)):
            moment += dt.timedelta(seconds=30)
            services.reading_heartbeat(actor=reader, reading=reading, now=moment)
        services.reading_submit(
            actor=reader,
            reading=reading,
            version=reading.version,
            answers=_simulated_answers(truths[case_id], rng, error),
            now=moment,
        )
        report.readings_simulated += 1
        moment += dt.timedelta(seconds=20)


def _completed_study_ensure(
    *, coordinator: User, cases: list[Case], password: str, report: ReaderStudyDemoReport
) -> None:
    if ReaderStudy.objects.filter(title=COMPLETED_TITLE).exists():
        return
    readers = []
    for username, first, last in SIMULATED_READERS:
        user = _user(username) or user_create(
            actor=None,
            username=username,
            password=password,
            roles=[Role.READER],
            first_name=first,
            last_name=last,
        )
        readers.append(user)
    study = _study_ensure(
        title=COMPLETED_TITLE,
        protocol=protocols.SLIC.key,
        coordinator=coordinator,
        cases=cases,
        readers=readers,
        report=report,
    )
    if study is None or not study.study_cases.exists():
        return
    study.description = (
        "SIMULATED DEMO DATA: the readings of this study were generated by the demo for two "
        "simulated readers (session 1 with more errors than session 2), not by people. "
        + study.description
    )
    study.save(update_fields=["description"])
    truths = {str(sc.pk): _truth(sc.case) for sc in study.study_cases.select_related("case")}
    start = timezone.now() - dt.timedelta(days=60)
    for reader in readers:
        session1 = ReaderAssignment.objects.get(
            session__study=study, session__order=1, reader=reader
        )
        _simulate_session(session1, truths=truths, start=start, error=0.3, report=report)
        session2 = ReaderAssignment.objects.get(
            session__study=study, session__order=2, reader=reader
        )
        later = start + dt.timedelta(days=31, hours=2)
        _simulate_session(session2, truths=truths, start=later, error=0.1, report=report)
    services.study_status_set(actor=coordinator, study=study, status="closed")


def _intraoperative_references(study: ReaderStudy, surgeon: User) -> None:
    """Findings that follow each lumbar phantom's herniation, marked as simulated."""
    from inference import phantoms

    for study_case in study.study_cases.select_related("case"):
        index = int(study_case.case.label.rsplit("-", 1)[1])
        phantom = phantoms.generate_lumbar_case(seed=2000 + index, shape=(16, 48, 48))
        findings = []
        if phantom.herniation_level:
            level = phantom.herniation_level.replace("-L", "/").replace("-S", "/S")
            if level in protocols.LUMBAR_LEVELS:
                for side in protocols.SIDES:
                    hit = phantom.herniation_side in (side, "central")
                    findings.append(
                        {
                            "level": level,
                            "side": side,
                            "dural_canal": "severe"
                            if phantom.herniation_side == "central"
                            else "mild",
                            "nerve_root": "severe" if hit else "none",
                        }
                    )
        if not findings:
            findings = [
                {"level": "L4/5", "side": side, "dural_canal": "none", "nerve_root": "none"}
                for side in protocols.SIDES
            ]
        services.reference_set(
            actor=surgeon,
            study_case=study_case,
            source=ReferenceSource.INTRAOPERATIVE,
            values={"findings": findings},
            provenance=SIMULATED_PROVENANCE,
        )


def demo_load(*, password: str) -> ReaderStudyDemoReport:
    """Create the demo studies that are missing (users and cases: ``demo.phantom_cases``)."""
    report = ReaderStudyDemoReport()
    coordinator = _user("coordinator")
    if coordinator is None:
        return report
    cervical, lumbar = _cases(Region.CERVICAL), _cases(Region.LUMBAR)
    _pseudo_mri_ensure(cervical, report)
    readers = [user for user in (_user("reader-a"), _user("reader-b")) if user is not None]
    _study_ensure(
        title=SLIC_TITLE,
        protocol=protocols.SLIC.key,
        coordinator=coordinator,
        cases=cervical,
        readers=readers,
        report=report,
    )
    surgeon = _user("surgeon")
    if surgeon is not None:
        study = _study_ensure(
            title=NCCTM_TITLE,
            protocol=protocols.NCCTM.key,
            coordinator=coordinator,
            cases=lumbar,
            readers=[surgeon],
            report=report,
        )
        if study is not None:
            services.membership_add(
                actor=coordinator, study=study, user=surgeon, role=MemberRole.REFERENCE
            )
            _intraoperative_references(study, surgeon)
    _completed_study_ensure(
        coordinator=coordinator, cases=cervical, password=password, report=report
    )
    return report
