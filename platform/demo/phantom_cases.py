"""Demo data: users for each role and phantom cases, created idempotently.

Synthetic phantoms (``inference.phantoms``) stand in for patient data, so the demo and the
tests need nothing downloaded. Each case is generated from a fixed seed; a case already complete
is left as it is.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from cases.ingest import IngestBatch
from cases.models import Case, Region, SeriesRole, Study
from cases.services import case_create
from inference import phantoms


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[Role, ...]
    full_name: str


DEMO_USERS = (
    DemoUser("admin", (Role.ADMIN,), "Platform Admin"),
    DemoUser("coordinator", (Role.COORDINATOR,), "Study Coordinator"),
    DemoUser("reader-a", (Role.READER,), "Reader A"),
    DemoUser("reader-b", (Role.READER,), "Reader B"),
    DemoUser("surgeon", (Role.READER,), "Operating Surgeon"),
)

# Seven acute cervical trauma cases, as in the pseudo-MRI reader test (PROTOCOLS.md section 1),
# with a spread of findings so that every question has positive and negative cases.
CERVICAL_FINDINGS: tuple[tuple[str, ...], ...] = (
    (phantoms.CORD_EDEMA, phantoms.DISC_INJURY, phantoms.LIGAMENT_INJURY),
    (phantoms.RETROPHARYNGEAL_HEMATOMA,),
    (phantoms.CANAL_STENOSIS, phantoms.CORD_EDEMA),
    (),
    (phantoms.DISC_INJURY, phantoms.RETROPHARYNGEAL_HEMATOMA, phantoms.CANAL_STENOSIS),
    (phantoms.LIGAMENT_INJURY,),
    (
        phantoms.CORD_EDEMA,
        phantoms.DISC_INJURY,
        phantoms.RETROPHARYNGEAL_HEMATOMA,
        phantoms.CANAL_STENOSIS,
        phantoms.LIGAMENT_INJURY,
    ),
)
LUMBAR_CASES = 5

CERVICAL_ROLES = {"CT": SeriesRole.CT, "MRI-T2": SeriesRole.MRI_T2}
LUMBAR_ROLES = {
    "DECT-mixed": SeriesRole.DECT_MIXED,
    "MRM": SeriesRole.MRM,
    "NC-CTM-mask": SeriesRole.NCCTM_MASK,
}


@dataclass
class DemoReport:
    users_created: int = 0
    cases_created: int = 0
    instances_stored: int = 0


def demo_users_ensure(*, password: str, report: DemoReport) -> None:
    for demo in DEMO_USERS:
        if User.objects.filter(username=demo.username).exists():
            continue
        first, _, last = demo.full_name.partition(" ")
        user_create(
            actor=None,
            username=demo.username,
            password=password,
            roles=list(demo.roles),
            first_name=first,
            last_name=last,
        )
        report.users_created += 1


def _case_complete(label: str, roles: dict[str, SeriesRole]) -> bool:
    case = Case.objects.filter(label=label).first()
    if case is None:
        return False
    present = set(case.studies.values_list("series__role", flat=True))
    return set(roles.values()) <= present


def _import_case(
    *,
    label: str,
    region: Region,
    levels: str,
    notes: str,
    write: Callable[[Path], dict[str, list[Path]]],
    roles: dict[str, SeriesRole],
    report: DemoReport,
) -> None:
    study_uids: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="sagittal-demo-") as tmp:
        for role_name, paths in write(Path(tmp)).items():
            # One batch per series, as an upload of it would be: one insert per flush.
            with IngestBatch(role=roles[role_name]) as batch:
                for path in paths:
                    batch.add(path.read_bytes())
            for path, outcome in zip(paths, batch.outcomes, strict=True):
                if outcome.status not in ("stored", "duplicate"):
                    raise RuntimeError(
                        f"demo file {path.name} was {outcome.status}: {outcome.reason}"
                    )
                report.instances_stored += outcome.status == "stored"
                study_uids.add(outcome.study_instance_uid)
    studies = Study.objects.filter(study_instance_uid__in=study_uids, case__isnull=True)
    if studies.exists() and not Case.objects.filter(label=label).exists():
        case_create(
            actor=None,
            label=label,
            region=region,
            studies=studies,
            levels=levels,
            clinical_notes=notes,
        )
        report.cases_created += 1


def demo_load(*, password: str) -> DemoReport:
    """Create the demo users and phantom cases that are missing; return what was created."""
    report = DemoReport()
    demo_users_ensure(password=password, report=report)
    for index, findings in enumerate(CERVICAL_FINDINGS, start=1):
        if _case_complete(f"CSCI-{index:03d}", CERVICAL_ROLES):
            continue
        phantom = phantoms.generate_cervical_case(seed=1000 + index, findings=findings)
        described = ", ".join(f.replace("_", " ") for f in findings) or "no injury"
        _import_case(
            label=f"CSCI-{index:03d}",
            region=Region.CERVICAL,
            levels=f"{phantom.levels[0]}-{phantom.levels[-1]}",
            notes=f"Synthetic acute cervical trauma phantom ({described}).",
            write=lambda out, p=phantom, i=index: phantoms.write_cervical_case_dicom(  # type: ignore[misc]
                p, out, patient_name=f"PHANTOM^CERVICAL^{i:03d}", patient_id=f"DEMO-C{i:03d}"
            ),
            roles=CERVICAL_ROLES,
            report=report,
        )
    for index in range(1, LUMBAR_CASES + 1):
        if _case_complete(f"NCCTM-{index:03d}", LUMBAR_ROLES):
            continue
        lumbar = phantoms.generate_lumbar_case(seed=2000 + index)
        _import_case(
            label=f"NCCTM-{index:03d}",
            region=Region.LUMBAR,
            levels=f"{lumbar.levels[0]}-{lumbar.levels[-1]}",
            notes="Synthetic lumbar dual-energy CT with MR myelography and a dural canal mask.",
            write=lambda out, p=lumbar, i=index: phantoms.write_lumbar_case_dicom(  # type: ignore[misc]
                p, out, patient_name=f"PHANTOM^LUMBAR^{i:03d}", patient_id=f"DEMO-L{i:03d}"
            ),
            roles=LUMBAR_ROLES,
            report=report,
        )
    return report
