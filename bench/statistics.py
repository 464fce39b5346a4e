"""Benchmark: the analysis and the XLSX export of a large reader study.

Builds a study of 30 readers x 300 cases x 10 questions read in two sessions (18,000 readings,
180,000 answers) as plain data, then times ``readerstudy.analysis.analyse`` and writing the
workbook (statistics, per-reader tables and the readings in long format) with openpyxl.
Target (issue 6): both under 2 s on the 2-core machine. Database loading is not included (the
readings' query is one indexed SELECT; see docs/performance.md).

    PYTHONPATH=platform:. .venv/bin/python bench/statistics.py [--readers 30 --cases 300]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

from openpyxl import Workbook

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

from readerstudy import analysis as an  # noqa: E402
from readerstudy import protocols  # noqa: E402
from readerstudy import questions as q  # noqa: E402


def build(readers: int, cases: int, seed: int = 1) -> an.StudyData:
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
            rows.append(an.ReadingRow(2, reader, f"case-{c}", answers))
            noisy = {
                key: (not value if isinstance(value, bool) and rng.random() < 0.2 else value)
                for key, value in answers.items()
            }
            rows.append(an.ReadingRow(1, reader, f"case-{c}", noisy))
    return an.StudyData(
        questions=specs,
        sessions={1: "Session 1", 2: "Session 2"},
        readers=[f"reader-{r:02d}" for r in range(readers)],
        readings=rows,
        same_reader_rules=[an.SameReaderRule(1, 2)],
    )


def write_workbook(data: an.StudyData, result: an.StudyAnalysis) -> int:
    book = Workbook(write_only=True)
    stats_sheet = book.create_sheet("Statistics")
    for row in result.rows:
        stats_sheet.append(
            [row.comparison, row.question, row.reader, row.sessions, row.statistic, row.value,
             row.ci_low, row.ci_high, row.p, row.n, row.display]
        )  # fmt: skip
    readings = book.create_sheet("Readings")
    for reading in data.readings:
        for key, value in reading.answers.items():
            readings.append([reading.session, reading.reader, reading.case, key, str(value)])
    buffer = io.BytesIO()
    book.save(buffer)
    return len(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=30)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--out", default="bench/results/statistics.json")
    args = parser.parse_args()
    data = build(args.readers, args.cases)
    started = time.perf_counter()
    result = an.analyse(data)
    analysis_s = time.perf_counter() - started
    started = time.perf_counter()
    size = write_workbook(data, result)
    xlsx_s = time.perf_counter() - started
    answers = sum(len(r.answers) for r in data.readings)
    table = {
        "readers": args.readers, "cases": args.cases, "questions": len(data.questions),
        "readings": len(data.readings), "answers": answers, "statistic_rows": len(result.rows),
        "analysis_s": round(analysis_s, 3), "xlsx_s": round(xlsx_s, 3), "xlsx_bytes": size,
        "total_s": round(analysis_s + xlsx_s, 3), "target_s": 2.0,
    }  # fmt: skip
    width = max(len(key) for key in table)
    for key, value in table.items():
        print(f"{key:<{width}}  {value}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
