"""Import readings recorded outside the platform from a CSV file: the inverse of ``exports``.

The file is the long format ``readerstudy.results.sheets`` writes (one row per answer), so an export
of one study imports into another study of the same design. Only ``reader``, ``session`` (or
``session_name``), ``case`` (or ``study_case_id`` or ``position``), ``question`` and ``value``
are needed; the other export columns are read when present (``question_type`` must match,
``is_current=false`` and ``reading_status=in_progress`` rows are skipped, ``opened_at`` /
``submitted_at`` / ``active_seconds`` are kept, ``slots`` says which arm each slot showed) and
the rest (``study``, ``reading_id``, ``supersedes``, ...) describe the source and are ignored.

All or nothing: the whole file is checked first (every cell typed and validated with the
question's one JSON Schema from ``readerstudy.questions``) and any error stores nothing.
Computed answers are recomputed, never imported. A reading that already exists for a reader,
session and case is an error unless ``replace``: then the import supersedes it (kept, as an
amendment does). Each imported reading is marked ``source=imported`` and has a
``reading.imported`` audit event naming the file and its sha256.

One module per step: ``cells`` (cell text to a typed answer), ``rows`` (reading the file),
``matching`` (a row's reader, session, case and question), ``checks`` (each reading against
the study), ``store`` (one transaction) and ``service`` (the entry points).
"""

from readerstudy.imports.cells import cell_value
from readerstudy.imports.results import MAX_ERRORS, ImportIssue, ImportResult, ImportTooLargeError
from readerstudy.imports.rows import MAX_ROWS
from readerstudy.imports.service import MAX_BYTES, readings_import, readings_import_upload

__all__ = [
    "MAX_BYTES",
    "MAX_ERRORS",
    "MAX_ROWS",
    "ImportIssue",
    "ImportResult",
    "ImportTooLargeError",
    "cell_value",
    "readings_import",
    "readings_import_upload",
]
