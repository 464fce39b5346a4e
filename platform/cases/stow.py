"""STOW-RS (PS3.18 10.5): ``POST /dicomweb/studies[/{study}]`` with multipart/related parts.

Answers as the standard says: 200 when every instance was stored, 202 when some failed, 409 when
none was stored, each failure in FailedSOPSequence with a FailureReason code and a readable
ErrorComment; 400 / 411 / 413 / 415 for a request that is malformed, has no length, is too large
or is not multipart/related application/dicom. Every stored instance carries WarningReason
B000 (coercion of data elements) because de-identification replaces its UIDs; the
ReferencedSOPSequence gives the sender's UID and the RetrieveURL of the platform's.
"""

from __future__ import annotations

import json
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

from django.http import HttpResponse
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from accounts.models import User
from accounts.permissions import can_manage_studies
from cases import uploads
from cases.dicomweb import DICOM_JSON, DicomWebView, SearchStudies, base_url, error_response
from cases.ingest import IngestBatch, IngestOutcome

# PS3.18 Table I.2-1 / PS3.4 status codes used in FailureReason and WarningReason.
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
CANNOT_UNDERSTAND = 0xC000
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
COERCION_OF_DATA_ELEMENTS = 0xB000


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["content-type"] = value
    # RFC 2231 parameters (``boundary*=UTF-8''...``) come back as tuples: decode them to text.
    params = {
        key.lower(): collapse_rfc2231_value(val) if isinstance(val, tuple) else val
        for key, val in message.get_params(failobj=[])[1:]
    }
    return message.get_content_type(), params


def _failure_code(outcome: IngestOutcome) -> int:
    if outcome.status == "quarantined":
        return PROCESSING_FAILURE
    if outcome.reason.startswith("transfer syntax"):
        return TRANSFER_SYNTAX_NOT_SUPPORTED
    if outcome.reason.startswith("SOP class"):
        return SOP_CLASS_NOT_SUPPORTED
    return CANNOT_UNDERSTAND if outcome.reason.startswith("not a readable") else PROCESSING_FAILURE


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _response_dataset(request: Request, outcomes: list[IngestOutcome]) -> dict[str, Any]:
    base = base_url(request)
    referenced, failed = [], []
    for outcome in outcomes:
        item = {
            "00081150": _ui(outcome.sop_class_uid),
            "00081155": _ui(outcome.original_sop_instance_uid),
        }
        if outcome.accepted:
            url = (
                f"{base}/studies/{outcome.study_instance_uid}/series/"
                f"{outcome.series_instance_uid}/instances/{outcome.sop_instance_uid}"
            )
            item["00081190"] = {"vr": "UR", "Value": [url]}
            item["00081196"] = {"vr": "US", "Value": [COERCION_OF_DATA_ELEMENTS]}
            referenced.append(item)
        else:
            item["00081197"] = {"vr": "US", "Value": [_failure_code(outcome)]}
            # ErrorComment, as other archives put it in STOW-RS answers: the reason in words.
            item["00000902"] = {"vr": "LO", "Value": [f"{outcome.status}: {outcome.reason}"[:64]]}
            failed.append(item)
    dataset: dict[str, Any] = {}
    studies = {outcome.study_instance_uid for outcome in outcomes if outcome.accepted}
    if len(studies) == 1:
        dataset["00081190"] = {"vr": "UR", "Value": [f"{base}/studies/{studies.pop()}"]}
    if failed:
        dataset["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        dataset["00081199"] = {"vr": "SQ", "Value": referenced}
    return dataset


class StoreInstances(DicomWebView):
    """STOW-RS: ``POST /dicomweb/studies/{study}`` stores instances of that study only."""

    def post(self, request: Request, study_uid: str | None = None) -> HttpResponse:
        if not (isinstance(request.user, User) and can_manage_studies(request.user)):
            raise PermissionDenied("Only study coordinators may store images.")
        media_type, params = _content_type(request.headers.get("Content-Type", ""))
        if media_type != "multipart/related":
            return error_response(415, 'STOW-RS takes multipart/related; type="application/dicom"')
        if params.get("type", "application/dicom").lower() != "application/dicom":
            return error_response(415, "only application/dicom parts are accepted")
        length_text = request.META.get("CONTENT_LENGTH") or ""
        if not length_text.isdigit():
            return error_response(411, "a Content-Length is required")
        # Bodies over SAGITTAL_MAX_UPLOAD_BYTES never get here (RequestSizeLimitMiddleware).
        length = int(length_text)
        boundary = params.get("boundary", "")
        # One batch for the request: its instances (nearly always one series) share the
        # patient, study and series look-ups and are indexed together.
        batch = IngestBatch(actor=request.user, required_study_uid=study_uid)
        try:
            with uploads.spool_body(request._request, content_length=length) as body:
                for part in uploads.multipart_related_parts(body, boundary=boundary):
                    if part.content_type.split(";")[0].strip() not in ("", "application/dicom"):
                        reason = f"part of type {part.content_type} is not application/dicom"
                        batch.add_outcome(IngestOutcome("rejected", reason=reason))
                        continue
                    batch.add(part.data)
        except uploads.UploadRefused as exc:
            return error_response(exc.status, str(exc))
        outcomes = batch.outcomes
        stored = sum(outcome.accepted for outcome in outcomes)
        status = 200 if stored == len(outcomes) else 202 if stored else 409
        return HttpResponse(
            json.dumps(_response_dataset(request, outcomes)),
            status=status,
            content_type=DICOM_JSON,
        )


class StudiesResource(StoreInstances, SearchStudies):
    """``/dicomweb/studies``: QIDO-RS search (GET) and STOW-RS store (POST)."""
