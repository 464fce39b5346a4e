"""Where the CPU of ingest goes: ``cases.ingest`` over a 200-slice 512 x 512 CT, one process.

Generates the cervical phantom CT that ``bench/dicomweb.py`` sends (same seed, same patient
name, ID and dates to de-identify), then ingests it into a fresh database the way the doors do:

- ``single``: ``instance_ingest`` once per file (the door of one file at a time, what every
  caller did before ingest batches);
- ``batch``: one ``IngestBatch`` per ``--batch`` files, as STOW-RS handles a request of that many
  instances (``bench/dicomweb.py`` sends 10 a request) and an upload handles its files.

For each mode: instances/s and ms of wall time per instance (one process, nothing else in
flight: this is CPU of this process plus the database's round trips), database statements per
instance, and with ``--steps`` the wall time of each ingest step (each step's function wrapped
in a timer; ``--cprofile`` dumps a cProfile instead, which slows pydicom's many small calls by
about three times, so its figures are only good for comparing steps with each other). The load
average of the machine is recorded with the figures.

Run: ``PYTHONPATH=platform:. .venv/bin/python bench/ingest.py [--steps]`` (PostgreSQL on
127.0.0.1:5432 by default, in a database of its own created and dropped here; ``--database-url
sqlite`` for a SQLite file). Writes ``bench/results/ingest.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from typing import Any  # noqa: E402

RESULTS = _HERE / "results" / "ingest.json"

# (label, module, attribute) of the steps timed with --steps: the names ``cases.ingest`` calls.
STEPS = [
    ("serialize_instance (pydicom dcmwrite)", "cases.ingest", "serialize_instance"),
    ("dicom_json.instance_json", "cases.dicom_json", "instance_json"),
    ("deidentify (Annex E walk)", "cases.deidentify", "deidentify"),
    ("parse_instance (dcmread and validation)", "cases.ingest", "parse_instance"),
    ("frame_index", "cases.ingest", "frame_index"),
    ("store_bytes (SHA-256 and write)", "cases.ingest", "store_bytes"),
]
DATABASE_STEP = "database statements (round trips included)"


def generate(out_dir: Path, slices: int, size: int) -> list[bytes]:
    from inference.phantoms import generate_cervical_case, write_cervical_ct_dicom

    paths = write_cervical_ct_dicom(
        generate_cervical_case(seed=11, shape=(slices, size, size)),
        out_dir,
        patient_name="BENCH^PATIENT^CT",
        patient_id="BENCH-0001",
        study_description="Benchmark cervical spine CT",
        uid_namespace=f"bench/{slices}/{size}",
    )
    return [path.read_bytes() for path in paths]


def _database(url: str, var_dir: Path) -> str | None:
    """Point Django at a fresh database; the PostgreSQL database name to drop afterwards."""
    os.environ["SAGITTAL_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if url == "sqlite":
        os.environ.pop("DATABASE_URL", None)
        return None
    name = f"bench_ingest_{os.getpid()}"
    subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {name}"], check=True)
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + f"/{name}"
    return name


def _empty_tables() -> None:
    from cases.models import Instance, Patient, PseudonymMapEntry, Series, Study

    for model in (Instance, Series, Study, PseudonymMapEntry, Patient):
        model.objects.all().delete()


def _run(mode: str, files: list[bytes], batch: int) -> None:
    from cases import ingest

    if mode == "single":
        for data in files:
            outcome = ingest.instance_ingest(data=data)
            assert outcome.status == "stored", outcome
        return
    for start in range(0, len(files), batch):
        with ingest.IngestBatch() as current:
            for data in files[start : start + batch]:
                current.add(data)
        assert all(o.status == "stored" for o in current.outcomes), current.outcomes


@contextmanager
def _step_timers(totals: dict[str, float]) -> Iterator[None]:
    """Wrap each step's function with a wall-clock timer (about a microsecond a call)."""
    import importlib

    saved = []
    for label, module_name, attribute in STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)

        def timed(*args: Any, __original: Any = original, __label: str = label, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return __original(*args, **kw)
            finally:
                totals[__label] = totals.get(__label, 0.0) + time.perf_counter() - started

        saved.append((module, attribute, original))
        setattr(module, attribute, timed)
    try:
        yield
    finally:
        for module, attribute, original in saved:
            setattr(module, attribute, original)


def measure(mode: str, files: list[bytes], batch: int, args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from cases.models import Instance

    _empty_tables()
    statements, database_s = 0, 0.0
    totals: dict[str, float] = {}
    kinds: dict[str, list[float]] = {}

    def counting(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal statements, database_s
        statements += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - started
            database_s += spent
            words = sql.split()
            table = next((w.strip('"') for w in words if w.startswith('"cases_')), "")
            kind = kinds.setdefault(f"{words[0]} {table}".strip(), [0, 0.0])
            kind[0] += 1
            kind[1] += spent

    profiler = cProfile.Profile() if args.cprofile else None
    load_before = os.getloadavg()[0]
    cpu_before, started = time.process_time(), time.perf_counter()
    with ExitStack() as stack:
        stack.enter_context(connection.execute_wrapper(counting))
        if args.steps:
            stack.enter_context(_step_timers(totals))
        if profiler:
            profiler.enable()
        _run(mode, files, batch)
        if profiler:
            profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    assert Instance.objects.count() == len(files)
    result: dict[str, Any] = {
        "mode": mode if mode == "single" else f"batch of {batch}",
        "instances": len(files),
        "instances_per_s": round(len(files) / elapsed, 1),
        "wall_ms_per_instance": round(elapsed * 1000 / len(files), 2),
        "process_cpu_ms_per_instance": round(cpu * 1000 / len(files), 2),
        "statements_per_instance": round(statements / len(files), 2),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if args.steps:
        steps = {DATABASE_STEP: database_s, **totals}
        per = {label: round(seconds * 1000 / len(files), 2) for label, seconds in steps.items()}
        per["the rest (ORM, transactions, glue)"] = round(
            result["wall_ms_per_instance"] - sum(per.values()), 2
        )
        result["ms_per_instance"] = per
        result["statements"] = {
            kind: {"count": int(count), "ms_per_instance": round(spent * 1000 / len(files), 3)}
            for kind, (count, spent) in sorted(kinds.items(), key=lambda item: -item[1][1])
        }
    if profiler:
        path = args.out.with_suffix(f".{mode}.prof")
        path.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(path)
        result["cprofile"] = str(path)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=10, help="instances per IngestBatch")
    parser.add_argument("--modes", default="single,batch")
    parser.add_argument("--rounds", type=int, default=1, help="best of this many per mode")
    parser.add_argument("--steps", action="store_true", help="time each ingest step")
    parser.add_argument("--cprofile", action="store_true", help="dump a cProfile per mode")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp) / "series", args.slices, args.size)
        dropped = _database(args.database_url, Path(tmp) / "var")
        try:
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            results = []
            for mode in args.modes.split(","):
                rounds = [measure(mode, files, args.batch, args) for _ in range(args.rounds)]
                best = min(rounds, key=lambda r: r["wall_ms_per_instance"])
                results.append(best)
                print(json.dumps(best, indent=1))
            from django.db import connections

            connections.close_all()
        finally:
            if dropped:
                subprocess.run(
                    ["psql", args.database_url, "-qc", f"DROP DATABASE IF EXISTS {dropped}"],
                    check=False,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
