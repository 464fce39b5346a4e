"""The import's entry points: check a file (size cap ``MAX_BYTES``, then every row) and
store it when it has no error and this is not a dry run.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from readerstudy.imports.checks import check_draft
from readerstudy.imports.matching import MatchContext
from readerstudy.imports.results import (
    Errors,
    ImportDraft,
    ImportResult,
    ImportTooLargeError,
    TooManyErrors,
)
from readerstudy.imports.rows import decode_upload, read_rows
from readerstudy.imports.store import ensure_open, store_readings
from readerstudy.models import ReaderStudy
from readerstudy.tasks import exports_schedule

MAX_BYTES = 20 * 1024 * 1024


def readings_import(
    *,
    actor: User,
    study: ReaderStudy,
    data: bytes,
    filename: str,
    replace: bool = False,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Check a CSV of readings and, when it has no error and this is not a dry run, store it.

    The caller has authorized ``actor`` as a coordinator of ``study``. Closed studies refuse
    (409), a file over ``MAX_BYTES`` is a 413; anything wrong inside the file comes back in
    ``result.errors`` (line, column, message; the first ``MAX_ERRORS``) with nothing stored.
    """
    ensure_open(study)
    if len(data) > MAX_BYTES:
        raise ImportTooLargeError(
            _("The file is larger than %(mb)s MB; split it.") % {"mb": MAX_BYTES // (1024 * 1024)}
        )
    result = ImportResult(
        filename=(filename or "upload.csv")[:200],
        sha256=hashlib.sha256(data).hexdigest(),
        dry_run=dry_run,
        replace=replace,
    )
    errors = Errors(result)
    drafts: list[ImportDraft] = []
    try:
        text = decode_upload(data, errors)
        if text is not None:
            ctx = MatchContext(study)
            found = read_rows(text, ctx, result, errors)
            if not found and not result.errors:
                errors.add(2, "", _("the file has no readings to import"))
            for draft in found.values():
                check_draft(draft, ctx, replace, errors)
            drafts = sorted(found.values(), key=lambda d: d.line)
    except TooManyErrors:
        pass
    if result.errors:
        result.readings = 0
        return result
    result.readings = len(drafts)
    result.replaced = sum(1 for d in drafts if d.existing is not None)
    if dry_run:
        return result
    result.replaced = 0
    with transaction.atomic():
        store_readings(
            actor=actor, study=study, drafts=drafts, result=result, now=now or timezone.now()
        )
        exports_schedule(study_id=study.pk)
    result.stored = True
    return result


def readings_import_upload(
    *, actor: User, study: ReaderStudy, upload: UploadedFile, replace: bool, dry_run: bool
) -> ImportResult:
    """``readings_import`` of an uploaded file, refused above the size cap before it is read."""
    ensure_open(study)
    if upload.size is not None and upload.size > MAX_BYTES:
        raise ImportTooLargeError(
            _("The file is larger than %(mb)s MB; split it.") % {"mb": MAX_BYTES // (1024 * 1024)}
        )
    return readings_import(
        actor=actor,
        study=study,
        data=upload.read(MAX_BYTES + 1),
        filename=upload.name or "",
        replace=replace,
        dry_run=dry_run,
    )
