"""De-identification of DICOM datasets on ingest (DICOM PS3.15 Annex E).

Profile: the Basic Application Level Confidentiality Profile with the Retain Longitudinal
Temporal Information with Modified Dates Option. No other option is applied; in particular the
Retain Safe Private Option is *not* used, so every private attribute is removed.

Where the actions come from
    The Basic Profile column of Table E.1-1 is read from the ``dicom-anonymizer`` package
    (KitwareMedical), whose tables are scraped from the published standard; edition
    :data:`ANNEX_E_EDITION`. Only its table is used, not its engine (the engine draws random
    UIDs, empties the UIDs inside Source Image Sequence and replaces dates with 00010101).
    The package does not carry the option columns. The Retain Longitudinal Temporal Information
    with Modified Dates column marks with ``C`` the attributes of the table whose VR is DA, DT or
    TM, except Patient's Birth Date, Patient's Birth Time and GPS Time Stamp (checked against the
    2025 edition of the table; see :data:`_TEMPORAL_NOT_RETAINED`), so that column is derived
    from the Basic table and the data dictionary's VRs. Three non-temporal attributes are also
    ``C`` in that column (Certified Timestamp, Frame Origin Timestamp, Timezone Offset From UTC);
    they get their stricter Basic Profile action here.

How each code is applied (no IOD tables are consulted, so the conformance-safe choice is made)
    ``X`` removed; ``Z`` emptied; ``D`` replaced by a dummy of the right VR; ``U`` remapped with
    :func:`remap_uid`; ``Z/D``, ``X/D``, ``X/Z/D`` replaced by a dummy (valid whether the attribute
    is Type 1, 2 or 3 in the IOD; the same choice dicom-anonymizer makes); ``X/Z`` emptied;
    ``X/Z/U*`` (Referenced Image / Source Image Sequence) kept, with the instance UIDs inside
    remapped. A sequence whose action is ``D`` becomes an empty sequence: there is no meaningful
    dummy item. A UI attribute whose action is ``D`` is remapped.
    Temporal attributes under the option: DA and the date part of DT are shifted by a whole
    number of days (a per-patient offset), so every interval survives; the time of day, the
    fraction and the UTC offset suffix of DT are kept, and TM values are kept unchanged (a
    whole-day shift does not change a time of day). A value that cannot be parsed is emptied.
    Patient's Name and Patient ID (top level) receive the pseudonym. Private attributes are removed
    at every nesting level. Sequences not listed in the table are kept and cleaned recursively.

Deliberate additions to the table (all remove or modify more, none retain more)
    * DA/DT attributes that Table E.1-1 does not list are shifted too (Basic would keep them).
    * Whole overlay groups (60xx) are removed, not only Overlay Data/Comments: an overlay plane
      without its data is malformed. Curve groups (50xx) are removed as the table says.
    * Group length elements (gggg,0000) outside the file meta are removed: they would be stale.
    * File meta keeps only version, SOP class/instance UID (remapped), transfer syntax and
      implementation UID/version; source/sending/receiving AE titles and presentation addresses
      and private meta information are dropped.

Identity of the outputs
    UIDs, pseudonyms and date offsets are HMAC-SHA256 of the original values under a secret:
    deterministic across uploads and worker processes, unguessable without the secret, and
    independent of each other (a distinct message prefix per use).

Burned-in annotation in the pixels is not addressed by this profile (the Clean Pixel Data Option
is not applied); :func:`burned_in_annotation_suspected` tells the caller which files to
quarantine instead. Pixel data is never modified.

This module has no Django dependency; recording the pseudonym map is the caller's job.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version as _package_version
from typing import Any, Final

from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import (
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameSingleBitSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
)

from cases.dicom_io import gettext_noop

__all__ = [
    "ANNEX_E_EDITION",
    "DeidResult",
    "basic_profile_code",
    "burned_in_annotation_suspected",
    "date_offset_for_patient",
    "deidentify",
    "patient_identity",
    "patient_pseudonym",
    "remap_uid",
]

# --------------------------------------------------------------------------------------------
# The Annex E table (loaded once, at import)
# --------------------------------------------------------------------------------------------

ANNEX_E_EDITION: Final = "2026c"
"""Edition of PS3.15 Table E.1-1 used (a module of the ``dicom-anonymizer`` package)."""

_TABLE_LIBRARY: Final = f"dicom-anonymizer {_package_version('dicom-anonymizer')}"

_CATEGORY_CODES: Final = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


def _load_basic_profile() -> tuple[dict[int, str], tuple[tuple[int, int, str], ...]]:
    """Table E.1-1 Basic Profile column: ``{tag: code}`` and ``(base, mask, code)`` ranges."""
    database = dicom_anonymization_database_selector(f"dicomfields_{ANNEX_E_EDITION}")
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, str]] = []
    for category, code in _CATEGORY_CODES.items():
        for entry in database[category]:
            if len(entry) == 2:
                tag = (entry[0] << 16) | entry[1]
                if exact.setdefault(tag, code) != code:
                    raise RuntimeError(f"Annex E table lists {tag:08X} twice")
            else:  # (group, element, group mask, element mask), e.g. Overlay Data (60xx,3000)
                group, element, group_mask, element_mask = entry
                masked.append(((group << 16) | element, (group_mask << 16) | element_mask, code))
    if len(exact) < 500:  # the 2026c table has ~650 attributes; a truncated table is a bug
        raise RuntimeError(f"Annex E table has only {len(exact)} attributes")
    return exact, tuple(masked)


BASIC_PROFILE, _BASIC_PROFILE_MASKED = _load_basic_profile()

_DICTIONARY_VR: Final[dict[int, str]] = {tag: entry[0] for tag, entry in DicomDictionary.items()}
_TEMPORAL_VRS: Final = frozenset({"DA", "DT", "TM"})

_PATIENT_NAME: Final = 0x00100010
_PATIENT_ID: Final = 0x00100020
_PIXEL_DATA_TAGS: Final = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})

# Temporal attributes of Table E.1-1 without "C" in the Rtn. Long. Modif. Dates column: the
# option does not retain them, the Basic Profile action applies.
_TEMPORAL_NOT_RETAINED: Final = frozenset(
    {
        0x00100030,  # Patient's Birth Date (Z)
        0x00100032,  # Patient's Birth Time (X)
        0x00160077,  # GPS Time Stamp (X)
    }
)

_FILE_META_KEPT: Final = frozenset(
    {
        0x00020000,  # File Meta Information Group Length (recomputed when written)
        0x00020001,  # File Meta Information Version
        0x00020002,  # Media Storage SOP Class UID
        0x00020003,  # Media Storage SOP Instance UID (remapped)
        0x00020010,  # Transfer Syntax UID
        0x00020012,  # Implementation Class UID
        0x00020013,  # Implementation Version Name
    }
)
_MEDIA_STORAGE_SOP_INSTANCE_UID: Final = 0x00020003


def basic_profile_code(tag: int) -> str | None:
    """The Basic Profile code of Table E.1-1 for ``tag`` ("X", "Z", "D", "U", "X/Z", ...).

    Args:
        tag: The attribute tag as an integer, e.g. ``0x0008103E``.

    Returns:
        The code, or ``None`` when the table does not list the attribute.
    """
    code = BASIC_PROFILE.get(tag)
    if code is not None:
        return code
    for base, mask, masked_code in _BASIC_PROFILE_MASKED:
        if tag & mask == base:
            return masked_code
    return None


# --------------------------------------------------------------------------------------------
# Keyed derivations: UIDs, pseudonyms, date offsets
# --------------------------------------------------------------------------------------------

_MIN_SECRET_BYTES: Final = 16
_UID_DOMAIN: Final = b"sagittal/deid/uid\x00"
_PSEUDONYM_DOMAIN: Final = b"sagittal/deid/patient-pseudonym\x00"
_OFFSET_DOMAIN: Final = b"sagittal/deid/date-offset\x00"
PSEUDONYM_PREFIX: Final = "SGT-"


def _hmac(secret: bytes, domain: bytes, *parts: str) -> bytes:
    if not isinstance(secret, bytes | bytearray) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"the de-identification secret must be at least {_MIN_SECRET_BYTES} bytes")
    message = domain + b"\x00".join(part.encode("utf-8", "surrogatepass") for part in parts)
    return hmac.new(bytes(secret), message, hashlib.sha256).digest()


def _clean_uid(uid: str) -> str:
    return str(uid).strip("\x00 ")


def remap_uid(uid: str, *, secret: bytes) -> str:
    """Map an original UID to its de-identified replacement.

    The new UID is ``2.25.<n>`` where ``n`` is the decimal value of a version-8 (RFC 9562,
    custom) UUID whose 122 free bits are the first bits of HMAC-SHA256(secret, uid). The
    mapping is deterministic (same UID and secret, same result, in any process), cannot be
    inverted or predicted without the secret, and always yields a valid UID of at most 44
    characters (PS3.5 B.2).

    Args:
        uid: The original UID; trailing NUL/space padding is ignored.
        secret: The platform's de-identification secret (at least 16 bytes).

    Returns:
        The replacement UID.

    Raises:
        ValueError: If the secret is too short.
    """
    digest = _hmac(secret, _UID_DOMAIN, _clean_uid(uid))
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # UUID version 8
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return f"2.25.{value}"


def patient_pseudonym(patient_id: str, issuer: str = "", *, secret: bytes) -> str:
    """The pseudonym that replaces a patient's name and ID.

    Args:
        patient_id: The original Patient ID (0010,0020); surrounding spaces are ignored.
        issuer: The original Issuer of Patient ID (0010,0021), or "" when absent.
        secret: The platform's de-identification secret (at least 16 bytes).

    Returns:
        ``"SGT-"`` followed by 16 base32 characters (80 bits of HMAC-SHA256); a valid LO and PN.

    Raises:
        ValueError: If the secret is too short.
    """
    digest = _hmac(secret, _PSEUDONYM_DOMAIN, issuer.strip(), patient_id.strip())
    return PSEUDONYM_PREFIX + base64.b32encode(digest[:10]).decode("ascii")


def date_offset_for_patient(
    patient_id: str, *, secret: bytes, issuer: str = "", max_days: int = 3650
) -> int:
    """The whole-day shift applied to every date of one patient.

    Args:
        patient_id: The original Patient ID; surrounding spaces are ignored.
        secret: The platform's de-identification secret (at least 16 bytes).
        issuer: The original Issuer of Patient ID, or "" when absent.
        max_days: Largest absolute shift.

    Returns:
        A non-zero offset in ``[-max_days, -1] U [1, max_days]``, the same for the same patient
        on every upload and worker, unpredictable without the secret.

    Raises:
        ValueError: If the secret is too short or ``max_days`` is less than 1.
    """
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    digest = _hmac(secret, _OFFSET_DOMAIN, issuer.strip(), patient_id.strip())
    n = int.from_bytes(digest[:8], "big") % (2 * max_days)  # bias < 2**-50
    return n - max_days if n < max_days else n - max_days + 1


def patient_identity(ds: Dataset) -> tuple[str, str]:
    """The original ``(PatientID, IssuerOfPatientID)`` of a dataset, "" when absent.

    Read this *before* :func:`deidentify` to derive the pseudonym and the date offset. An empty
    Patient ID is returned as ""; what to do with such files is the caller's policy.
    """
    return str(ds.get("PatientID", "") or "").strip(), str(
        ds.get("IssuerOfPatientID", "") or ""
    ).strip()


# --------------------------------------------------------------------------------------------
# Burned-in annotation
# --------------------------------------------------------------------------------------------

_SECONDARY_CAPTURE_CLASSES: Final = frozenset(
    {
        SecondaryCaptureImageStorage,
        MultiFrameSingleBitSecondaryCaptureImageStorage,
        MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        MultiFrameTrueColorSecondaryCaptureImageStorage,
    }
)


def burned_in_annotation_suspected(ds: Dataset) -> str | None:
    """Why the pixels of ``ds`` may show identifying text, or ``None``.

    A file is flagged when Burned In Annotation (0028,0301) is YES, when Recognizable Visual
    Features (0028,0302) is YES, or when it is a Secondary Capture image (any of the five SC
    SOP classes) that does not say Burned In Annotation NO: screenshots and scanned documents
    are the usual carriers of burned-in names, and the attribute is Type 3 there, so silence
    is not taken as "no". Modality images (CT, MR, SEG) without the attribute are not flagged.

    Args:
        ds: The original dataset (call before or after :func:`deidentify`; neither attribute
            is changed by the profile).

    Returns:
        A reason to show in the upload report when the file must be quarantined for review.
    """
    burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned_in == "YES":
        return gettext_noop("BurnedInAnnotation is YES: the pixels may show patient details")
    if str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper() == "YES":
        return gettext_noop(
            "RecognizableVisualFeatures is YES: the image may show the patient's face"
        )
    sop_class = str(ds.get("SOPClassUID", "") or "").strip("\x00 ")
    if sop_class in _SECONDARY_CAPTURE_CLASSES and burned_in != "NO":
        return gettext_noop(
            "secondary capture image without BurnedInAnnotation NO: may be a screenshot"
        )
    return None


# --------------------------------------------------------------------------------------------
# Date shifting
# --------------------------------------------------------------------------------------------

_DT_PATTERN: Final = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(.*)$", re.DOTALL)


def _shift_day(year: int, month: int, day: int, days: int) -> dt.date | None:
    try:
        return dt.date(year, month, day) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def _shift_da(value: str, days: int) -> str | None:
    text = value.strip()
    if len(text) == 10 and text[4] == "." and text[7] == ".":  # ACR-NEMA YYYY.MM.DD
        text = text.replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    shifted = _shift_day(int(text[:4]), int(text[4:6]), int(text[6:]), days)
    if shifted is None:
        return None
    return f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"


def _shift_dt(value: str, days: int) -> str | None:
    """Shift the date part of a DT, keeping its precision and the time/UTC-offset suffix."""
    match = _DT_PATTERN.match(value.strip())
    if match is None:
        return None
    year, month, day, rest = match.groups()
    if day is None and rest:  # "YYYYMM" or "YYYY" precision cannot be followed by a time
        return None
    shifted = _shift_day(int(year), int(month or 1), int(day or 1), days)
    if shifted is None:
        return None
    out = f"{shifted.year:04d}"
    if month is not None:
        out += f"{shifted.month:02d}"
    if day is not None:
        out += f"{shifted.day:02d}"
    return out + rest


# --------------------------------------------------------------------------------------------
# The walk
# --------------------------------------------------------------------------------------------


class _Action(enum.Enum):
    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    REMAP = "U"
    SHIFT = "C"
    CLEAN = "recurse"


_CODE_ACTIONS: Final = {
    "X": _Action.REMOVE,
    "Z": _Action.EMPTY,
    "D": _Action.DUMMY,
    "U": _Action.REMAP,
    "Z/D": _Action.DUMMY,
    "X/Z": _Action.EMPTY,
    "X/D": _Action.DUMMY,
    "X/Z/D": _Action.DUMMY,
}

_TEXT_DUMMY: Final = "ANONYMIZED"
_DUMMY_BY_VR: Final[dict[str, Any]] = {
    **dict.fromkeys(("AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"), _TEXT_DUMMY),
    "AS": "000D",
    "UR": "http://anonymized.invalid",
    "DS": "0",
    "IS": "0",
    "DA": "19000101",
    "DT": "19000101",
    "TM": "000000",
    **dict.fromkeys(("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"), 0),
    **dict.fromkeys(("OB", "OW", "OD", "OF", "OL", "OV", "UN"), b"\x00" * 8),
}


def _resolve(code: str, vr: str) -> _Action:
    """The action for one attribute of the table, given its Basic code and actual VR."""
    if vr in _TEMPORAL_VRS:
        return _Action.SHIFT  # Rtn. Long. Modif. Dates Option: "C"
    if code == "X/Z/U*":
        if vr == "SQ":
            return _Action.CLEAN  # keep the references, remap the instance UIDs inside
        return _Action.REMAP if vr == "UI" else _Action.EMPTY
    action = _CODE_ACTIONS[code]
    if action is _Action.DUMMY:
        if vr == "UI":
            return _Action.REMAP
        if vr == "SQ":
            return _Action.EMPTY
    if action is _Action.REMAP and vr != "UI":
        return _Action.EMPTY
    return action


@dataclass
class DeidResult:
    """What :func:`deidentify` did.

    Attributes:
        dataset: The de-identified dataset (the same object that was passed in).
        pseudonym: The value written to PatientName and PatientID.
        date_offset_days: The shift applied to every date.
        removed: Standard attributes removed (at any nesting level, file meta included).
        private_removed: Private elements removed (creators included).
        emptied: Attributes set to a zero-length value.
        replaced: Attributes given a dummy value or the pseudonym.
        uids_remapped: UID values replaced with :func:`remap_uid`.
        dates_shifted: DA/DT values shifted.
        uid_map: ``{original UID: new UID}`` for every UID remapped in this instance. The keys
            are original (identifying) UIDs: keep them only where the pseudonym map is kept.
    """

    dataset: Dataset
    pseudonym: str
    date_offset_days: int
    removed: int = 0
    private_removed: int = 0
    emptied: int = 0
    replaced: int = 0
    uids_remapped: int = 0
    dates_shifted: int = 0
    uid_map: dict[str, str] = field(default_factory=dict)


class _Walker:
    __slots__ = ("_mac", "_result")

    def __init__(self, result: DeidResult, secret: bytes) -> None:
        self._result = result
        # Validates the secret once and lets each UID reuse the keyed state.
        _hmac(secret, _UID_DOMAIN, "")
        self._mac = hmac.new(bytes(secret), _UID_DOMAIN, hashlib.sha256)

    # -- UIDs ---------------------------------------------------------------------------------

    def _uid(self, uid: str) -> str:
        original = _clean_uid(uid)
        if not original:
            return original
        new = self._result.uid_map.get(original)
        if new is None:
            mac = self._mac.copy()
            mac.update(original.encode("utf-8", "surrogatepass"))
            value = int.from_bytes(mac.digest()[:16], "big")
            value = (value & ~(0xF << 76)) | (0x8 << 76)
            value = (value & ~(0x3 << 62)) | (0x2 << 62)
            new = f"2.25.{value}"
            self._result.uid_map[original] = new
        self._result.uids_remapped += 1
        return new

    def _remap(self, elem: DataElement) -> None:
        value = elem.value
        if value is None or value == "":
            return
        if isinstance(value, str):
            elem.value = self._uid(value)
        else:
            elem.value = [self._uid(str(v)) for v in value]

    # -- dates --------------------------------------------------------------------------------

    def _shift(self, elem: DataElement) -> None:
        vr = elem.VR
        if vr == "TM":
            return  # a whole-day shift leaves the time of day unchanged
        value = elem.value
        if value is None or value == "":
            return
        shift = _shift_da if vr == "DA" else _shift_dt
        days = self._result.date_offset_days
        values: Iterable[Any] = [value] if isinstance(value, str | bytes) else value
        shifted = []
        for item in values:
            text = item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
            new = shift(text, days) if text.strip() else ""
            if new is None:
                elem.value = elem.empty_value
                self._result.emptied += 1
                return
            shifted.append(new)
        elem.value = shifted[0] if len(shifted) == 1 else shifted
        self._result.dates_shifted += len(shifted)

    # -- datasets -----------------------------------------------------------------------------

    def _clean_sequence(self, elem: DataElement) -> None:
        for item in elem.value or ():
            self.walk(item, top=False)

    def walk(self, ds: Dataset, *, top: bool) -> None:
        result = self._result
        for tag in list(ds.keys()):
            t = int(tag)
            group = t >> 16
            if group & 1:
                del ds[tag]
                result.private_removed += 1
                continue
            if t in _PIXEL_DATA_TAGS:
                continue
            if (t & 0xFFFF) == 0 or (group & 0xFF00) in (0x5000, 0x6000):
                # stale group lengths; curves (table: X); overlay groups (see module docs)
                del ds[tag]
                result.removed += 1
                continue
            code = BASIC_PROFILE.get(t)
            if code is None:
                vr = _DICTIONARY_VR.get(t) or ds.get_item(tag).VR
                if vr == "SQ":
                    self._clean_sequence(ds[tag])
                elif vr == "DA" or vr == "DT":
                    self._shift(ds[tag])
                continue
            if top and t in (_PATIENT_NAME, _PATIENT_ID):
                ds[tag].value = result.pseudonym
                result.replaced += 1
                continue
            elem = ds[tag]
            vr = elem.VR
            action = _resolve(code, vr)
            if action is _Action.SHIFT and t in _TEMPORAL_NOT_RETAINED:
                action = _CODE_ACTIONS[code]
            if action is _Action.REMOVE:
                del ds[tag]
                result.removed += 1
            elif action is _Action.EMPTY:
                elem.value = elem.empty_value
                result.emptied += 1
            elif action is _Action.DUMMY:
                dummy = _DUMMY_BY_VR.get(vr)
                if dummy is None:
                    elem.value = elem.empty_value
                    result.emptied += 1
                else:
                    elem.value = dummy
                    result.replaced += 1
            elif action is _Action.REMAP:
                self._remap(elem)
            elif action is _Action.SHIFT:
                self._shift(elem)
            elif action is _Action.CLEAN:
                self._clean_sequence(elem)

    def file_meta(self, meta: FileMetaDataset) -> None:
        for tag in list(meta.keys()):
            if int(tag) not in _FILE_META_KEPT:
                del meta[tag]
                self._result.removed += 1
        if _MEDIA_STORAGE_SOP_INSTANCE_UID in meta:
            self._remap(meta[_MEDIA_STORAGE_SOP_INSTANCE_UID])


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_METHOD_DESCRIPTION: Final = (
    "PS3.15 Annex E Basic Application Level Confidentiality Profile",
    "Retain Longitudinal Temporal Information Modified Dates Option",
    f"Table E.1-1 {ANNEX_E_EDITION} ({_TABLE_LIBRARY}); HMAC UIDs"[:64],
)
_METHOD_CODES: Final = (
    codes.DCM.BasicApplicationConfidentialityProfile,
    codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption,
)
_PN_FORBIDDEN: Final = re.compile(r"[\\\x00-\x1f]")


def _record_method(ds: Dataset) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    existing = ds.get("DeidentificationMethod")  # kept: a previous de-identification's record
    if existing in (None, ""):
        methods: list[str] = []
    elif isinstance(existing, str):
        methods = [existing]
    else:
        methods = [str(text) for text in existing]
    methods += [text for text in _METHOD_DESCRIPTION if text not in methods]
    ds.DeidentificationMethod = methods
    items = list(ds.get("DeidentificationMethodCodeSequence") or [])
    present = {
        (str(i.get("CodingSchemeDesignator", "")), str(i.get("CodeValue", ""))) for i in items
    }
    for code in _METHOD_CODES:
        if (code.scheme_designator, code.value) not in present:
            item = Dataset()
            item.CodeValue = code.value
            item.CodingSchemeDesignator = code.scheme_designator
            item.CodeMeaning = code.meaning
            items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)


def deidentify(ds: Dataset, *, secret: bytes, pseudonym: str, date_offset_days: int) -> DeidResult:
    """De-identify one instance in place (see the module documentation for the rules).

    Typical use on ingest::

        reason = burned_in_annotation_suspected(ds)  # quarantine instead when not None
        patient_id, issuer = patient_identity(ds)
        result = deidentify(
            ds,
            secret=secret,
            pseudonym=patient_pseudonym(patient_id, issuer, secret=secret),
            date_offset_days=date_offset_for_patient(patient_id, issuer=issuer, secret=secret),
        )

    Args:
        ds: The dataset, modified in place (file meta included when present). Pixel data is
            not touched. On an exception the dataset is partly modified and must be discarded.
        secret: The platform's de-identification secret (at least 16 bytes); the same secret
            must be used by every worker for UIDs to stay consistent.
        pseudonym: Written to PatientName and PatientID (1 to 64 characters, no backslash or
            control characters).
        date_offset_days: Non-zero whole-day shift for every DA/DT value.

    Returns:
        The dataset and a summary of the actions taken.

    Raises:
        ValueError: On a short secret, an invalid pseudonym or a zero offset.
    """
    if not pseudonym or len(pseudonym) > 64 or _PN_FORBIDDEN.search(pseudonym):
        raise ValueError("the pseudonym must be 1-64 characters without backslash or controls")
    if isinstance(date_offset_days, bool) or not isinstance(date_offset_days, int):
        raise ValueError("date_offset_days must be an int")
    if date_offset_days == 0:
        raise ValueError("date_offset_days must not be 0 (the dates would not be modified)")
    result = DeidResult(dataset=ds, pseudonym=pseudonym, date_offset_days=date_offset_days)
    walker = _Walker(result, secret)
    walker.walk(ds, top=True)
    for keyword in ("PatientName", "PatientID"):
        if keyword not in ds:  # Type 2 in the Patient Module
            setattr(ds, keyword, pseudonym)
            result.replaced += 1
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        walker.file_meta(meta)
    _record_method(ds)
    return result
