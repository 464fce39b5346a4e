"""QIDO-RS query parsing and matching (PS3.18 section 10.6), translated to ORM filters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db.models import Q
from pydicom.datadict import tag_for_keyword

MAX_LIMIT = 1000


class QueryError(ValueError):
    """A malformed query; the message is returned to the client with 400."""


@dataclass(frozen=True)
class Query:
    filters: Q
    limit: int
    offset: int
    include_all: bool
    include_tags: frozenset[str]
    ignored: tuple[str, ...] = field(default=())


# Matching keys per level: DICOM keyword -> ORM lookup path from the queried model.
STUDY_KEYS = {
    "StudyInstanceUID": "study_instance_uid",
    "PatientID": "dicom_patient_id",
    "PatientName": "dicom_patient_name",
    "AccessionNumber": "accession_number",
    "StudyDate": "study_date",
    "StudyDescription": "description",
    "ModalitiesInStudy": "series__modality",
}
SERIES_KEYS = {
    "SeriesInstanceUID": "series_instance_uid",
    "Modality": "modality",
    "SeriesNumber": "series_number",
    "SeriesDescription": "description",
}
INSTANCE_KEYS = {
    "SOPInstanceUID": "sop_instance_uid",
    "SOPClassUID": "sop_class_uid",
    "InstanceNumber": "instance_number",
}
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
_UID_KEYS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}
_INT_KEYS = {"SeriesNumber", "InstanceNumber"}


def _keyword(key: str) -> str:
    """Accept a keyword or an 8-hex-digit tag, return the keyword."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        from pydicom.datadict import keyword_for_tag

        return keyword_for_tag(int(key, 16)) or key
    return key


def _tag_hex(name: str) -> str:
    keyword = _keyword(name)
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise QueryError(f"includefield {name!r} is not a DICOM keyword or tag")
    return f"{tag:08X}"


def _wildcard_regex(value: str) -> str:
    return (
        "^"
        + "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in value)
        + "$"
    )


def _date_filter(path: str, value: str) -> Q:
    def parse(text: str) -> str:
        if not re.fullmatch(r"\d{8}", text):
            raise QueryError(f"date {text!r} is not YYYYMMDD")
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"

    if "-" in value:
        start, _, end = value.partition("-")
        q = Q()
        if start:
            q &= Q(**{f"{path}__gte": parse(start)})
        if end:
            q &= Q(**{f"{path}__lte": parse(end)})
        return q
    return Q(**{path: parse(value)})


def _match(keyword: str, path: str, value: str) -> Q:
    if keyword in _UID_KEYS:
        uids = [uid for uid in re.split(r"[,\\]", value) if uid]
        if not all(re.fullmatch(r"[0-9.]{1,64}", uid) for uid in uids):
            raise QueryError(f"{keyword} must be a list of UIDs")
        return Q(**{f"{path}__in": uids})
    if keyword == "StudyDate":
        return _date_filter(path, value)
    if keyword in _INT_KEYS:
        if not value.isdigit():
            raise QueryError(f"{keyword} must be an integer")
        return Q(**{path: int(value)})
    if "*" in value or "?" in value:
        return Q(**{f"{path}__iregex": _wildcard_regex(value)})
    if keyword == "PatientName":
        return Q(**{f"{path}__iexact": value})
    return Q(**{path: value})


def parse_query(params: dict[str, list[str]], keys: dict[str, str]) -> Query:
    """Build a ``Query`` from request parameters for a level whose keys are ``keys``."""
    filters, ignored = Q(), []
    for raw_key, values in params.items():
        if raw_key in _CONTROL:
            continue
        keyword = _keyword(raw_key)
        if keyword not in keys:
            ignored.append(raw_key)
            continue
        for value in values:
            if value != "":
                filters &= _match(keyword, keys[keyword], value)

    def integer(name: str, default: int) -> int:
        raw = (params.get(name) or [""])[-1]
        if raw == "":
            return default
        if not raw.isdigit():
            raise QueryError(f"{name} must be a non-negative integer")
        return int(raw)

    limit = min(integer("limit", MAX_LIMIT), MAX_LIMIT)
    offset = integer("offset", 0)
    include_all, include_tags = False, set()
    for value in params.get("includefield", []):
        for name in filter(None, value.split(",")):
            if name == "all":
                include_all = True
            else:
                include_tags.add(_tag_hex(name))
    return Query(filters, limit, offset, include_all, frozenset(include_tags), tuple(ignored))
