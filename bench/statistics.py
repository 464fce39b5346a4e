"""Benchmark: the analysis and the XLSX export of a large reader study.

A study of 30 readers x 300 cases x 10 questions read in two sessions (18,000 readings, 180,000
answers), twice:

1. as plain data: ``readerstudy.results.analyse.analyse`` alone;
2. in a database (a fresh SQLite file, or ``--database-url``), built with the services
   (template, cases, reader assignments with their blinded placements) and bulk-inserted
   readings, then the product's own path behind "Export XLSX": ``load.study_results``
   (load + analysis), ``sheets.export_sheets`` (every sheet, the readings in long format: 19
   columns x 180,000 rows) and ``sheets.workbook_bytes``, against writing the same sheets with
   openpyxl (``write_only``), the writer it replaced, in the same run. This first build of a
   study version runs in a worker after readings change; a download then reads its file
   (``readerstudy.results.files``).

Target (issue 6): under 2 s on the 2-core machine.

    PYTHONPATH=platform:. .venv/bin/python bench/statistics.py [--readers 30 --cases 300]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from openpyxl import Workbook

ROOT = Path(__file__).resolve().parents[1]
# This file's folder comes first on sys.path, and this file's name shadows the standard
# library's ``statistics`` (which Django's SQLite backend imports): take the folder off.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

from readerstudy import protocols  # noqa: E402
from readerstudy import questions as q  # noqa: E402
from readerstudy.results import analyse as an  # noqa: E402
from readerstudy.results import records  # noqa: E402

T = TypeVar("T")


def build(readers: int, cases: int, seed: int = 1) -> records.StudyData:
    rng = random.Random(seed)
    specs = [
        *protocols.SLIC.questions,
        q.QuestionSpec(key="image_quality", type=q.LIKERT, label="Image quality", options={}),
    ]
    truth = []
    for _ in range(cases):
        ct, mri = rng.randint(0, 4), rng.randint(0, 2)
        truth.append(
            {
                **{s.key: rng.random() < 0.4 for s in specs if s.type == q.YES_NO},
                "sci_level": rng.choice(["C3", "C4", "C5", "C6", "C7"]),
                "slic_ct_morphology": ct,
                "slic_mri_dlc": mri,
                "slic_total": ct + mri,
                "image_quality": rng.randint(1, 5),
            }
        )
    rows = []
    for r in range(readers):
        reader = f"reader-{r:02d}"
        for c, answers in enumerate(truth):
            rows.append(records.ReadingRow(2, reader, f"case-{c}", answers))
            noisy = {
                key: (not value if isinstance(value, bool) and rng.random() < 0.2 else value)
                for key, value in answers.items()
            }
            rows.append(records.ReadingRow(1, reader, f"case-{c}", noisy))
    return records.StudyData(
        questions=specs,
        sessions={1: "Session 1", 2: "Session 2"},
        readers=[f"reader-{r:02d}" for r in range(readers)],
        readings=rows,
        same_reader_rules=[records.SameReaderRule(1, 2)],
    )


def _timed(function: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def _django(database_url: str | None, var_dir: Path) -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ["SAGITTAL_VAR_DIR"] = str(var_dir)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build_in_database(data: records.StudyData, cases: int) -> Any:
    """The same study in the database: services for its design, bulk inserts for readings."""
    from django.utils import timezone

    from accounts.models import User
    from cases.models import Case, Patient, Region, Series, Study
    from readerstudy import services
    from readerstudy.models import ReaderAssignment, Reading, ReadingStatus

    coordinator = User.objects.create(username="bench-coordinator")
    study = services.study_create_from_template(actor=coordinator, protocol=protocols.SLIC.key)
    services.question_create(
        actor=coordinator,
        study=study,
        key="image_quality",
        type=q.LIKERT,
        label="Image quality",
    )
    case_rows = []
    for index in range(cases):
        patient = Patient.objects.create(pseudonym=f"BENCH-{index:04d}")
        case = Case.objects.create(label=f"case-{index}", patient=patient, region=Region.CERVICAL)
        dicom_study = Study.objects.create(
            patient=patient, case=case, study_instance_uid=f"2.25.{index + 1}"
        )
        for number, role in enumerate((protocols.CT, protocols.PSEUDO_MRI, protocols.MRI_T2)):
            Series.objects.create(
                study=dicom_study,
                series_instance_uid=f"2.25.{index + 1}.{number}",
                modality="CT" if role == protocols.CT else "MR",
                role=role,
                series_number=number,
            )
        case_rows.append(case)
    services.study_cases_add(actor=coordinator, study=study, cases=case_rows)
    for reader in data.readers:
        services.reader_assign(
            actor=coordinator, study=study, reader=User.objects.create(username=reader)
        )
    assignments = {
        (a.session.order, a.reader.username): a
        for a in ReaderAssignment.objects.filter(session__study=study).select_related(
            "session", "reader"
        )
    }
    study_cases = {sc.case.label: sc for sc in study.study_cases.select_related("case")}
    now = timezone.now()
    Reading.objects.bulk_create(
        (
            Reading(
                assignment=assignments[(row.session, row.reader)],
                study_case=study_cases[row.case],
                answers=row.answers,
                status=ReadingStatus.SUBMITTED,
                opened_at=now,
                submitted_at=now,
                last_activity_at=now,
                active_seconds=42.0,
            )
            for row in data.readings
        ),
        batch_size=2000,
    )
    return study


def openpyxl_workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """The peer: the same sheets written by openpyxl in write-only mode."""
    book = Workbook(write_only=True)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=30)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--skip-peer", action="store_true", help="do not time openpyxl")
    parser.add_argument("--out", default="bench/results/statistics.json")
    args = parser.parse_args()
    data = build(args.readers, args.cases)
    result, analysis_s = _timed(lambda: an.analyse(data))

    with tempfile.TemporaryDirectory() as var_dir:
        _django(args.database_url, Path(var_dir))
        from readerstudy.results import load, sheets

        study, build_s = _timed(lambda: build_in_database(data, args.cases))
        print(f"study built in the database in {build_s:.1f} s", file=sys.stderr)
        results, load_analysis_s = _timed(lambda: load.study_results(study=study))
        tables, rows_s = _timed(lambda: sheets.export_sheets(results))
        xlsx, write_s = _timed(lambda: sheets.workbook_bytes(tables))
        peer_s: float | None = None
        if not args.skip_peer:
            _, peer_s = _timed(lambda: openpyxl_workbook(tables))
    cells = sum(len(row) for rows in tables.values() for row in rows)
    first_build_s = load_analysis_s + rows_s + write_s
    table = {
        "readers": args.readers, "cases": args.cases, "questions": len(data.questions),
        "readings": len(data.readings), "answers": sum(len(r.answers) for r in data.readings),
        "statistic_rows": len(result.rows), "xlsx_cells": cells,
        "analysis_s (plain data)": round(analysis_s, 3),
        "load_and_analysis_s (database)": round(load_analysis_s, 3),
        "sheets_s (readings in long format, tables)": round(rows_s, 3),
        "xlsx_write_s (rust_xlsxwriter)": round(write_s, 3), "xlsx_bytes": len(xlsx),
        "peer_xlsx_write_s (openpyxl write_only)": None if peer_s is None else round(peer_s, 3),
        "first_build_s (load + analysis + sheets + write)": round(first_build_s, 3),
        "peer_first_build_s": None
        if peer_s is None
        else round(load_analysis_s + rows_s + peer_s, 3),
        "target_s": 2.0, "load_average_1min": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    width = max(len(key) for key in table)
    for key, value in table.items():
        print(f"{key:<{width}}  {value}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
