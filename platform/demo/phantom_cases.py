"""Demo data: users for each role and phantom cases, created idempotently.

Synthetic phantoms (``inference.phantoms``) stand in for patient data, so the demo and the
tests need nothing downloaded. Each case is generated from a fixed seed; a case already complete
is left as it is.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from cases.ingest import IngestBatch
from cases.models import Case, Region, SeriesRole, Study
from cases.services import case_create
from demo.phantom_files import DEMO_CASES, PhantomCase, WrittenCase, write_phantom_case


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


def _roles(case: PhantomCase) -> dict[str, SeriesRole]:
    return CERVICAL_ROLES if case.region == Region.CERVICAL else LUMBAR_ROLES


def _import_case(case: PhantomCase, written: WrittenCase, report: DemoReport) -> None:
    study_uids: set[str] = set()
    for role_name, paths in written.files.items():
        # One batch per series, as an upload of it would be: one insert per flush.
        with IngestBatch(role=_roles(case)[role_name]) as batch:
            for path in paths:
                batch.add(path.read_bytes())
        for path, outcome in zip(paths, batch.outcomes, strict=True):
            if outcome.status not in ("stored", "duplicate"):
                raise RuntimeError(f"demo file {path.name} was {outcome.status}: {outcome.reason}")
            report.instances_stored += outcome.status == "stored"
            study_uids.add(outcome.study_instance_uid)
    studies = Study.objects.filter(study_instance_uid__in=study_uids, case__isnull=True)
    if studies.exists() and not Case.objects.filter(label=case.label).exists():
        case_create(
            actor=None,
            label=case.label,
            region=Region(case.region),
            studies=studies,
            levels=written.levels,
            clinical_notes=written.notes,
        )
        report.cases_created += 1


def _missing_cases() -> list[PhantomCase]:
    return [case for case in DEMO_CASES if not _case_complete(case.label, _roles(case))]


def demo_load(*, password: str) -> DemoReport:
    """Create the demo users and phantom cases that are missing; return what was created.

    A helper process generates and writes the phantoms while this one ingests the cases written
    before (the two halves take about as long, and ``make run`` waits for them).
    """
    report = DemoReport()
    demo_users_ensure(password=password, report=report)
    missing = _missing_cases()
    if not missing:
        return report
    # spawn, not fork: the child starts clean instead of sharing this process' database handle.
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="sagittal-demo-") as tmp,
        ProcessPoolExecutor(max_workers=1, mp_context=context) as writer,
    ):
        written = [
            writer.submit(write_phantom_case, case, Path(tmp) / case.label) for case in missing
        ]
        for case, future in zip(missing, written, strict=True):
            _import_case(case, future.result(), report)
            shutil.rmtree(Path(tmp) / case.label, ignore_errors=True)
    return report
