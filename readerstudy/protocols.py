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

from django.utils.translation import gettext_lazy as _

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
    # The texts in other languages: {"ja": {"title", "description", "reader_title",
    # "sessions": {order: name}, "questions": {key: {"label", "help_text", "values"}}}}.
    translations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def localized(self, name: str, language: str) -> str:
        """The template's title, description or reader title in ``language``, if written."""
        return self.translations.get(language, {}).get(name) or getattr(self, name)


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
    help_texts={
        "retropharyngeal_hematoma": "Prevertebral soft-tissue swelling with hematoma on MRI.",
        "disc_injury": "Disruption or abnormal signal of an intervertebral disc.",
        "cord_edema": "Intramedullary T2 hyperintensity.",
        "sci_level": "The level, or range of levels, of the cord injury; none if there is none.",
        "canal_stenosis": "Narrowing of the spinal canal compressing the cord.",
        "interspinous_ligament_injury": "High signal or discontinuity of the interspinous "
        "ligament (posterior ligamentous complex).",
        "slic_ct_morphology": "Subaxial Injury Classification, morphology score from the CT.",
        "slic_mri_dlc": "Subaxial Injury Classification, disc-ligamentous complex score from "
        "the MRI.",
    },
    translations={
        "ja": {
            "title": "疑似MRIと実MRIの比較（SLIC）",
            "description": (
                "第1セッション：CTと、そのCTから生成した疑似MRI。第2セッション（各読影者が"
                "第1セッションを終えた日から数えるウォッシュアウト期間の後）：CTと実MRI。"
                "各読影者の第2セッションが、同じ読影者の第1セッションの参照標準となる"
                "（PROTOCOLS.md 1）。"
            ),
            "reader_title": "頸椎外傷の読影",
            "sessions": {1: "第1セッション", 2: "第2セッション"},
            "questions": {
                "retropharyngeal_hematoma": {
                    "label": "咽頭後血腫",
                    "help_text": "MRIで血腫を伴う椎体前軟部組織の腫脹。",
                },
                "disc_injury": {
                    "label": "椎間板損傷",
                    "help_text": "椎間板の断裂または信号異常。",
                },
                "cord_edema": {"label": "脊髄浮腫", "help_text": "髄内のT2高信号。"},
                "sci_level": {
                    "label": "脊髄損傷の高位",
                    "help_text": "脊髄損傷の高位（または範囲）。損傷がなければ「なし」。",
                },
                "canal_stenosis": {
                    "label": "脊柱管狭窄",
                    "help_text": "脊髄を圧迫する脊柱管の狭小化。",
                },
                "interspinous_ligament_injury": {
                    "label": "棘間靱帯損傷",
                    "help_text": "棘間靱帯（後方靱帯複合体）の高信号または連続性の途絶。",
                },
                "slic_ct_morphology": {
                    "label": "SLIC：CTでの形態",
                    "help_text": "Subaxial Injury Classification の形態スコア（CTで評価）。",
                    "values": {
                        "0": "異常なし",
                        "1": "圧迫骨折",
                        "2": "破裂骨折",
                        "3": "側方・回旋転位",
                        "4": "伸延・伸展損傷",
                    },
                },
                "slic_mri_dlc": {
                    "label": "SLIC：MRIでの椎間板靱帯複合体",
                    "help_text": (
                        "Subaxial Injury Classification の椎間板靱帯複合体（DLC）スコア"
                        "（MRIで評価）。"
                    ),
                    "values": {"0": "損傷なし", "1": "損傷の疑い", "2": "損傷あり"},
                },
                "slic_total": {"label": "SLIC合計（CT形態 + MRI DLC）"},
            },
        }
    },
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
    help_texts={
        "agreement_a": "How well image A shows the dural canal and nerve root compression "
        "the surgeon found, level by level.",
        "agreement_b": "How well image B shows the dural canal and nerve root compression "
        "the surgeon found, level by level.",
    },
    translations={
        "ja": {
            "title": "NC-CTMとMRMの比較（術中所見との一致）",
            "description": (
                "1セッション：症例ごとに、NC-CTM（デュアルエナジーCTと硬膜管のセグメンテーション）"
                "から作成した3D画像と、MRミエログラフィーから作成した3D画像を、読影者と症例ごとに"
                "無作為にA・Bとして配置する。参照標準は執刀医が入力する術中所見（PROTOCOLS.md 2）。"
            ),
            "reader_title": "腰椎除圧術の術前計画画像",
            "sessions": {1: "第1セッション"},
            "questions": {
                "agreement_a": {
                    "label": "画像Aは術中所見と一致している",
                    "help_text": "術者が確認した硬膜管・神経根の圧迫を、画像Aが各高位でどの程度"
                    "示しているか。",
                    "values": {
                        "1": "全くそう思わない",
                        "2": "そう思わない",
                        "3": "どちらでもない",
                        "4": "そう思う",
                        "5": "強くそう思う",
                    },
                },
                "agreement_b": {
                    "label": "画像Bは術中所見と一致している",
                    "help_text": "術者が確認した硬膜管・神経根の圧迫を、画像Bが各高位でどの程度"
                    "示しているか。",
                    "values": {
                        "1": "全くそう思わない",
                        "2": "そう思わない",
                        "3": "どちらでもない",
                        "4": "そう思う",
                        "5": "強くそう思う",
                    },
                },
                "closer": {
                    "label": "術中所見により近いのはどちらの画像か？",
                    "values": {"A": "Aの方が近い", "equal": "同等", "B": "Bの方が近い"},
                },
            },
        }
    },
)

BLANK = ProtocolTemplate(
    key="blank",
    title="Blank study",
    description="No sessions or questions yet: for image-quality Likert studies, numeric "
    "measurement studies and other designs.",
    reader_title="Reader study",
    translations={
        "ja": {
            "title": "空の研究",
            "description": "セッションや質問はまだない：画質のリッカート評価、数値計測の研究"
            "などの設計に。",
            "reader_title": "読影研究",
            "sessions": {1: "第1セッション"},
        }
    },
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
