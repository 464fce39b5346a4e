"""Deterministic UIDs, demographics and dates of a synthetic study.

UIDs come from :func:`phantom_uid`: ``generate_uid(entropy_srcs=...)`` under pydicom's UID
root, i.e. a SHA-512 of a namespace string, so the same seed (and patient) always yields
the same UIDs. That keeps tests and demo data reproducible; real ingestion remaps UIDs anyway
(de-identification). Dates and times are drawn from the seed; no clock is ever read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydicom.uid import generate_uid

from inference.phantoms.anatomy import rng_for

#: Random stream of a seed used for DICOM dates and demographics (see anatomy.STREAM_*).
STREAM_DICOM = 9


def phantom_uid(*parts: object) -> str:
    """Deterministic UID for a phantom object.

    Args:
        *parts: Anything that identifies the object (namespace, role, slice index...).

    Returns:
        A UID under pydicom's root, the same for the same parts in every run.
    """
    # A separator keeps ("ab", "c") and ("a", "bc") apart (generate_uid concatenates).
    key = "\x1f".join(str(p) for p in parts)
    return str(generate_uid(entropy_srcs=["sagittal-phantom/v1", key]))


@dataclass(frozen=True)
class StudyInfo:
    """Patient and study attributes shared by all series of one synthetic case."""

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    patient_age: str
    study_instance_uid: str
    frame_of_reference_uid: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    body_part: str
    uid_namespace: str

    @classmethod
    def synthetic(
        cls,
        *,
        seed: int,
        patient_name: str,
        patient_id: str,
        body_part: str,
        study_description: str,
        uid_namespace: str,
    ) -> StudyInfo:
        """Deterministic demographics and dates for a seed (no clock is read).

        Args:
            seed: Phantom seed.
            patient_name: DICOM PN, e.g. ``"PHANTOM^CERVICAL^001"``.
            patient_id: Patient ID.
            body_part: BodyPartExamined, e.g. ``"CSPINE"``.
            study_description: StudyDescription.
            uid_namespace: Namespace all UIDs of the case are derived from.
        """
        rng = rng_for(seed, STREAM_DICOM)
        study = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
        age = int(rng.integers(20, 85))
        birth = dt.date(study.year - age - 1, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        secs = int(rng.integers(7 * 3600, 20 * 3600))
        return cls(
            patient_name=patient_name,
            patient_id=patient_id,
            patient_birth_date=birth.strftime("%Y%m%d"),
            patient_sex=str(rng.choice(["M", "F"])),
            patient_age=f"{age:03d}Y",
            study_instance_uid=phantom_uid(uid_namespace, "study"),
            frame_of_reference_uid=phantom_uid(uid_namespace, "frame-of-reference"),
            study_date=study.strftime("%Y%m%d"),
            study_time=f"{secs // 3600:02d}{secs // 60 % 60:02d}{secs % 60:02d}",
            accession_number=f"PH{seed % 10**10:010d}",
            study_id=f"{seed % 10**8}",
            study_description=study_description,
            body_part=body_part,
            uid_namespace=uid_namespace,
        )

    def time_after(self, seconds: int) -> str:
        """Study time plus ``seconds`` as a DICOM TM (same day, clamped at 23:59:59)."""
        t = self.study_time
        total = min(int(t[:2]) * 3600 + int(t[2:4]) * 60 + int(t[4:6]) + seconds, 86399)
        return f"{total // 3600:02d}{total // 60 % 60:02d}{total % 60:02d}"
