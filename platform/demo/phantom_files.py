"""The demo's phantom cases as DICOM files: which phantoms, from which seeds, and writing them.

Django-free, so that ``demo.phantom_cases`` can write the next case in a helper process while it
ingests the one before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inference import phantoms

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


@dataclass(frozen=True)
class PhantomCase:
    """One demo case: the phantom (region, seed index, findings) and its label."""

    label: str
    region: str  # a cases.models.Region value
    index: int
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class WrittenCase:
    levels: str
    notes: str
    files: dict[str, list[Path]]  # by series role name ("CT", "MRI-T2", "DECT-mixed", ...)


DEMO_CASES = tuple(
    PhantomCase(f"CSCI-{index:03d}", "cervical", index, findings)
    for index, findings in enumerate(CERVICAL_FINDINGS, start=1)
) + tuple(
    PhantomCase(f"NCCTM-{index:03d}", "lumbar", index) for index in range(1, LUMBAR_CASES + 1)
)


def write_phantom_case(case: PhantomCase, out: Path) -> WrittenCase:
    """Generate the case's phantom from its fixed seed and write its DICOM files under ``out``."""
    if case.region == "cervical":
        cervical = phantoms.generate_cervical_case(seed=1000 + case.index, findings=case.findings)
        described = ", ".join(f.replace("_", " ") for f in case.findings) or "no injury"
        files = phantoms.write_cervical_case_dicom(
            cervical,
            out,
            patient_name=f"PHANTOM^CERVICAL^{case.index:03d}",
            patient_id=f"DEMO-C{case.index:03d}",
        )
        levels, notes = cervical.levels, f"Synthetic acute cervical trauma phantom ({described})."
    else:
        lumbar = phantoms.generate_lumbar_case(seed=2000 + case.index)
        files = phantoms.write_lumbar_case_dicom(
            lumbar,
            out,
            patient_name=f"PHANTOM^LUMBAR^{case.index:03d}",
            patient_id=f"DEMO-L{case.index:03d}",
        )
        levels = lumbar.levels
        notes = "Synthetic lumbar dual-energy CT with MR myelography and a dural canal mask."
    return WrittenCase(f"{levels[0]}-{levels[-1]}", notes, files)
