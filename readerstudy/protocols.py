"""Protocol templates: a ready study (sessions, hanging protocols, questions, reference rules)
in one call of ``services.study_create_from_template``.

The two templates reproduce the reader tests in PROTOCOLS.md sections 1 and 2. Labels follow
the reports; coordinators can edit them until the study has answers. Session names and slot
labels are what readers see, so they never name the image origin ("MRI", not "pseudo-MRI";
"A" and "B", not "NC-CTM" and "MRM").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from readerstudy import questions as q

# Series roles (values of cases.models.SeriesRole), spelled out to keep this module Django-free.
CT = "CT"
DECT_MIXED = "DECT-mixed"
MRI_T2 = "MRI-T2"
MRI_STIR = "MRI-STIR"
MRM = "MRM"
PSEUDO_MRI = "pseudo-MRI"
NCCTM_MASK = "NC-CTM-mask"

VIEWPORT_TYPES = ("stack", "axial", "sagittal", "coronal", "volume3d")


@dataclass(frozen=True)
class SessionTemplate:
    name: str
    washout_days: int
    hanging_protocol: dict[str, Any]


@dataclass(frozen=True)
class ReferenceTemplate:
    """A reference rule: ``session`` (by order) is judged against ``reference_session``."""

    source: str
    session: int | None = None
    reference_session: int | None = None
    provenance: str = ""


@dataclass(frozen=True)
class ProtocolTemplate:
    key: str
    title: str
    description: str
    reader_title: str
    sessions: tuple[SessionTemplate, ...]
    questions: tuple[q.QuestionSpec, ...]
    references: tuple[ReferenceTemplate, ...] = ()
    # What coordinators enter per case as the reference (a structured form), if anything.
    reference_form: str = ""
    help_texts: dict[str, str] = field(default_factory=dict)


def _slot(
    label: str,
    roles: list[str],
    *,
    viewport: str = "stack",
    overlay_role: str = "",
    window: str = "",
    arm: str = "",
) -> dict[str, Any]:
    slot: dict[str, Any] = {"label": label, "roles": roles, "viewport": viewport}
    if overlay_role:
        slot["overlay_role"] = overlay_role
    if window:
        slot["window"] = window
    if arm:
        slot["arm"] = arm
    return slot


SLIC_CT_MORPHOLOGY = (
    (0, "No abnormality"),
    (1, "Compression fracture"),
    (2, "Burst fracture"),
    (3, "Lateral / rotational translation"),
    (4, "Distraction / extension injury"),
)
SLIC_MRI_DLC = ((0, "Intact"), (1, "Suspected injury"), (2, "Injury"))


def _finding(key: str, label: str) -> q.QuestionSpec:
    return q.QuestionSpec(key=key, type=q.YES_NO, label=label, options={})


SLIC = ProtocolTemplate(
    key="slic-pseudo-mri",
    title="Pseudo-MRI vs real MRI (SLIC)",
    description=(
        "Session 1: CT with pseudo-MRI generated from the CT. Session 2, after a washout counted "
        "from the day each reader finished session 1: CT with the real MRI. Each reader's "
        "session 2 is the reference standard for that reader's session 1 (PROTOCOLS.md 1)."
    ),
    reader_title="Cervical spine trauma reading",
    sessions=(
        SessionTemplate(
            name="Session 1",
            washout_days=0,
            hanging_protocol={
                "layout": "1x2",
                "sync_slices": True,
                "slots": [
                    _slot("CT", [CT], window="ct-bone"),
                    _slot("MRI", [PSEUDO_MRI], window="mri-auto", arm="pseudo-MRI"),
                ],
            },
        ),
        SessionTemplate(
            name="Session 2",
            washout_days=30,
            hanging_protocol={
                "layout": "1x2",
                "sync_slices": True,
                "slots": [
                    _slot("CT", [CT], window="ct-bone"),
                    _slot("MRI", [MRI_T2, MRI_STIR], window="mri-auto", arm="real MRI"),
                ],
            },
        ),
    ),
    questions=(
        _finding("retropharyngeal_hematoma", "Retropharyngeal hematoma"),
        _finding("disc_injury", "Disc injury"),
        _finding("cord_edema", "Spinal cord edema"),
        q.QuestionSpec(
            key="sci_level",
            type=q.VERTEBRAL_LEVEL,
            label="Level of spinal cord injury",
            options={
                "allow_range": True,
                "allow_none": True,
                "levels": [f"C{i}" for i in range(1, 8)] + ["T1"],
            },
        ),
        _finding("canal_stenosis", "Spinal canal stenosis"),
        _finding("interspinous_ligament_injury", "Interspinous ligament injury"),
        q.QuestionSpec(
            key="slic_ct_morphology",
            type=q.ORDINAL,
            label="SLIC: CT morphology",
            options={"values": [{"value": v, "label": t} for v, t in SLIC_CT_MORPHOLOGY]},
        ),
        q.QuestionSpec(
            key="slic_mri_dlc",
            type=q.ORDINAL,
            label="SLIC: MRI disc-ligamentous complex",
            options={"values": [{"value": v, "label": t} for v, t in SLIC_MRI_DLC]},
        ),
        q.QuestionSpec(
            key="slic_total",
            type=q.COMPUTED,
            label="SLIC total (CT morphology + MRI DLC)",
            options={},
            formula="slic_ct_morphology + slic_mri_dlc",
        ),
    ),
    references=(
        ReferenceTemplate(
            source="same_reader_session",
            session=1,
            reference_session=2,
            provenance="Template: each reader's session 2 (CT + real MRI) is the reference "
            "for the same reader's session 1 (CT + pseudo-MRI).",
        ),
    ),
)

NCCTM = ProtocolTemplate(
    key="ncctm-vs-mrm",
    title="NC-CTM vs MRM (intraoperative agreement)",
    description=(
        "One session: per case a 3D image built on NC-CTM (dual-energy CT with the dural canal "
        "segmentation) and one built on MR myelography, placed at random as A and B per reader "
        "and case. The reference is the intraoperative findings entered by the operating "
        "surgeon (PROTOCOLS.md 2)."
    ),
    reader_title="Lumbar decompression planning images",
    sessions=(
        SessionTemplate(
            name="Session 1",
            washout_days=0,
            hanging_protocol={
                "layout": "1x2",
                "sync_slices": False,
                "shuffle_slots": True,
                "slots": [
                    _slot(
                        "A",
                        [DECT_MIXED],
                        viewport="volume3d",
                        overlay_role=NCCTM_MASK,
                        arm="NC-CTM",
                    ),
                    _slot("B", [MRM], viewport="volume3d", arm="MRM"),
                ],
            },
        ),
    ),
    questions=(
        q.QuestionSpec(
            key="agreement_a",
            type=q.LIKERT,
            label="Image A agrees with the intraoperative findings",
            options={"labels": dict(q.DEFAULT_LIKERT_LABELS)},
        ),
        q.QuestionSpec(
            key="agreement_b",
            type=q.LIKERT,
            label="Image B agrees with the intraoperative findings",
            options={"labels": dict(q.DEFAULT_LIKERT_LABELS)},
        ),
        q.QuestionSpec(
            key="closer",
            type=q.COMPARATIVE,
            label="Which image is closer to the intraoperative findings?",
            options={"labels": {"A": "A is closer", "equal": "Equal", "B": "B is closer"}},
        ),
    ),
    reference_form="intraoperative",
)

BLANK = ProtocolTemplate(
    key="blank",
    title="Blank study",
    description="No sessions or questions yet: for image-quality Likert studies, numeric "
    "measurement studies and other designs.",
    reader_title="Reader study",
    sessions=(
        SessionTemplate(
            name="Session 1",
            washout_days=0,
            hanging_protocol={
                "layout": "1x1",
                "sync_slices": False,
                "slots": [_slot("Image", [CT])],
            },
        ),
    ),
    questions=(),
)

TEMPLATES: dict[str, ProtocolTemplate] = {t.key: t for t in (SLIC, NCCTM, BLANK)}


# --- Intraoperative findings form (the NC-CTM reference) -------------------------------------

SEVERITIES = ("none", "mild", "severe")
SIDES = ("left", "right")
SEVERITY_LABELS = {"none": _("none"), "mild": _("mild"), "severe": _("severe")}
SIDE_LABELS = {"left": _("left"), "right": _("right")}
LUMBAR_LEVELS = ("L1/2", "L2/3", "L3/4", "L4/5", "L5/S1")

INTRAOPERATIVE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["findings"],
    "additionalProperties": False,
    "properties": {
        "findings": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["level", "side", "dural_canal", "nerve_root"],
                "additionalProperties": False,
                "properties": {
                    "level": {"enum": list(LUMBAR_LEVELS)},
                    "side": {"enum": list(SIDES)},
                    "dural_canal": {"enum": list(SEVERITIES)},
                    "nerve_root": {"enum": list(SEVERITIES)},
                },
            },
        },
        "notes": {"type": "string", "maxLength": 2000},
    },
}


def hanging_protocol_schema() -> dict[str, Any]:
    """The JSON Schema of a session's hanging protocol."""
    slot = {
        "type": "object",
        "required": ["label", "roles"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "pattern": r"^[A-Za-z0-9 _-]{1,20}$"},
            "roles": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "viewport": {"enum": list(VIEWPORT_TYPES)},
            "overlay_role": {"type": "string"},
            "window": {"type": "string", "maxLength": 30},
            "arm": {"type": "string", "maxLength": 50},
        },
    }
    return {
        "type": "object",
        "required": ["slots"],
        "additionalProperties": False,
        "properties": {
            "layout": {"type": "string", "pattern": r"^[1-4]x[1-4]$"},
            "sync_slices": {"type": "boolean"},
            "shuffle_slots": {"type": "boolean"},
            "slots": {"type": "array", "minItems": 1, "maxItems": 8, "items": slot},
        },
    }
