"""DICOMweb speed of the platform against Orthanc, same machine, same run (issue 3).

A 200-slice 512 x 512 16-bit CT series (the cervical phantom, with a patient name, ID and
dates to de-identify) goes into both servers, then each is measured the same way:

- ingest: instances/s through STOW-RS (``POST {root}/studies``, ``--stow-batch`` instances a
  request, ``--ingest-clients`` requests in flight); for the platform this includes
  validation, de-identification, content-addressed storage and indexing;
- series metadata (WADO-RS, ``Accept-Encoding: gzip``): the first (cold) request, then p50 / p95
  of ``--metadata-requests`` sequential ones;
- frames: every frame of the series fetched round-robin for ``--duration`` seconds by 1 and by
  8 concurrent keep-alive clients: frames/s, MB/s of pixel data, p50 / p95 latency;
- CPU: the server's own (gunicorn master and workers plus the PostgreSQL backends of the
  bench database; the Orthanc process), the client's, and the rest of the machine's (other
  work that disturbed the run). CPU ms per frame is the figure least moved by a busy machine.

Frames and metadata are measured in ``--rounds`` rounds that alternate which server goes first;
each figure is the median over rounds. Frames returned are checked byte for byte against the
original pixel data before anything is timed.

The platform runs as in production: ``scripts/serve-prod.sh`` (gunicorn, gthread workers) with
``DEBUG=0`` against its own PostgreSQL database (``--database``, dropped and re-created).
Orthanc runs with its DICOMweb plugin and HTTP authentication (as the platform checks a token on
every request), inside its own network namespace: Orthanc 1.10 binds 0.0.0.0, and in a fresh
namespace only that namespace's loopback reaches it. The client (``wrk`` with a Lua script that
lists the frame URLs, or Python threads with http.client when wrk is missing) runs inside the
namespace for Orthanc and outside for the platform.

Installs nothing. Needs: ``apt-get install orthanc orthanc-dicomweb wrk``, PostgreSQL on
127.0.0.1:5432 where ``--postgres`` may create databases, and root (for ``ip netns``; without
it, ``--no-netns`` runs Orthanc on the host with RemoteAccessAllowed false, i.e. listening on
every interface but refusing other hosts).

Run: ``PYTHONPATH=platform:. .venv/bin/python bench/dicomweb.py`` (prints a table, writes
``bench/results/dicomweb.json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where the other benchmarks would shadow
# modules of the same name (bench/statistics.py is not the standard library's): drop it before
# importing anything else.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import base64  # noqa: E402
import email.message  # noqa: E402
import gzip  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from bench.support import free_port, run_checked  # noqa: E402

REPO = _HERE.parent
RESULTS = _HERE / "results" / "dicomweb.json"
ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_MARK = "BENCHJSON "


# --- the client (a subprocess, inside Orthanc's namespace when Orthanc is measured) -----------


@dataclass(frozen=True)
class Endpoint:
    """A DICOMweb root and the credentials a client sends to it."""

    host: str
    port: int
    root: str  # path prefix, e.g. /dicomweb
    authorization: str

    def connection(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": self.authorization, **extra}


def _get(endpoint: Endpoint, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = endpoint.connection()
    try:
        conn.request("GET", endpoint.root + path, headers=endpoint.headers(**headers))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _json(endpoint: Endpoint, path: str) -> Any:
    status, headers, body = _get(
        endpoint, path, Accept="application/dicom+json", **{"Accept-Encoding": "gzip"}
    )
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    if headers.get("Content-Encoding", headers.get("content-encoding")) == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


def _value(item: dict[str, Any], tag: str) -> Any:
    return item[tag]["Value"][0]


def _multipart_parts(content_type: str, body: bytes) -> list[bytes]:
    message = email.message.Message()
    message["content-type"] = content_type
    boundary = str(message.get_param("boundary")).encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head_end = chunk.index(b"\r\n\r\n") + 4
        parts.append(chunk[head_end : len(chunk) - 2])  # the CRLF before the next boundary
    return parts


def client_ingest(endpoint: Endpoint, files: list[str], batch: int, clients: int) -> dict[str, Any]:
    """STOW-RS the files in batches from ``clients`` threads; instances per second."""
    batches = [files[i : i + batch] for i in range(0, len(files), batch)]
    bodies: list[tuple[bytes, str]] = []
    for group in batches:
        boundary = secrets.token_hex(16)
        chunks = []
        for name in group:
            chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
            chunks.append(Path(name).read_bytes())
            chunks.append(b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
        bodies.append((b"".join(chunks), content_type))
    failures: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(bodies))

    def worker() -> None:
        conn = endpoint.connection(timeout=600)
        while True:
            with lock:
                if not queue:
                    break
                body, content_type = queue.pop()
            headers = endpoint.headers(
                **{"Content-Type": content_type, "Accept": "application/dicom+json"}
            )
            conn.request("POST", endpoint.root + "/studies", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200:
                with lock:
                    failures.append(f"HTTP {response.status}: {answer[:300]!r}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"STOW-RS failed: {failures[0]}")
    return {
        "door": "STOW-RS",
        "instances": len(files),
        "seconds": elapsed,
        "instances_per_s": len(files) / elapsed,
        "batch": batch,
        "clients": clients,
    }


def client_stow_available(endpoint: Endpoint) -> dict[str, Any]:
    """Whether ``POST {root}/studies`` is routed (an empty request is refused, not 404/405)."""
    conn = endpoint.connection()
    conn.request(
        "POST",
        endpoint.root + "/studies",
        body=b"",
        headers=endpoint.headers(
            **{"Content-Type": 'multipart/related; type="application/dicom"; boundary=x'}
        ),
    )
    status = conn.getresponse().status
    conn.close()
    return {"available": status not in (404, 405), "status": status}


def client_discover(endpoint: Endpoint, files: list[str]) -> dict[str, Any]:
    """Find the one study and series through QIDO-RS and check frames against the files."""
    import pydicom

    studies = _json(endpoint, "/studies")
    if len(studies) != 1:
        raise RuntimeError(f"expected one study, found {len(studies)}")
    study = _value(studies[0], "0020000D")
    (series_item,) = _json(endpoint, f"/studies/{study}/series")
    series = _value(series_item, "0020000E")
    listed = _json(
        endpoint, f"/studies/{study}/series/{series}/instances?includefield=00200013&limit=1000"
    )
    instances = sorted((int(_value(i, "00200013")), _value(i, "00080018")) for i in listed)
    if len(instances) != len(files):
        raise RuntimeError(f"expected {len(files)} instances, QIDO-RS lists {len(instances)}")
    originals = {}
    for name in files:
        ds = pydicom.dcmread(name)
        originals[int(ds.InstanceNumber)] = ds.PixelData
    checked = 0
    for number, sop in (instances[0], instances[len(instances) // 2], instances[-1]):
        path = f"/studies/{study}/series/{series}/instances/{sop}/frames/1"
        status, headers, body = _get(endpoint, path, Accept=FRAME_ACCEPT)
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
        (frame,) = _multipart_parts(content_type, body)
        if frame != originals[number]:
            raise RuntimeError(f"frame of instance {number} differs from the original pixels")
        checked += 1
    return {
        "study": study,
        "series": series,
        "sop_instance_uids": [sop for _, sop in instances],
        "frame_bytes": len(next(iter(originals.values()))),
        "frames_checked_byte_for_byte": checked,
    }


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def client_metadata(endpoint: Endpoint, path: str, requests: int) -> dict[str, Any]:
    """Sequential series-metadata requests on one keep-alive connection."""
    conn = endpoint.connection()
    headers = endpoint.headers(Accept="application/dicom+json", **{"Accept-Encoding": "gzip"})
    latencies, sizes, encodings = [], [], set()
    for _ in range(requests + 1):
        start = time.perf_counter()
        conn.request("GET", endpoint.root + path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
        encodings.add(response.getheader("Content-Encoding") or "identity")
        sizes.append(len(body))
    conn.close()
    text = gzip.decompress(body) if "gzip" in encodings else body
    first, timed = latencies[0], latencies[1:]
    return {
        "instances_in_answer": len(json.loads(text)),
        "first_ms": first * 1000,
        "p50_ms": _percentile(timed, 50) * 1000,
        "p95_ms": _percentile(timed, 95) * 1000,
        "mean_ms": statistics.fmean(timed) * 1000,
        "response_bytes": sizes[-1],
        "uncompressed_bytes": len(text),
        "content_encoding": sorted(encodings),
        "requests": len(timed),
    }


_WRK_SCRIPT = """
local paths = {%(paths)s}
wrk.headers["Accept"] = %(accept)s
wrk.headers["Authorization"] = %(authorization)s
local counter = 0
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  counter = id * 53
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%(mark)s{\\"requests\\":%%d,\\"bytes\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d," ..
    "\\"p95_us\\":%%d,\\"p99_us\\":%%d,\\"mean_us\\":%%.1f,\\"max_us\\":%%d,\\"errors\\":%%d}\\n",
    summary.requests, summary.bytes, summary.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.mean, latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of printable ASCII is a valid Lua string literal


def _frames_wrk(
    endpoint: Endpoint, paths: list[str], clients: int, duration: float, workdir: Path
) -> dict[str, Any]:
    script = workdir / f"frames-{os.getpid()}-{clients}.lua"
    script.write_text(
        _WRK_SCRIPT
        % {
            "paths": ",".join(_lua_string(endpoint.root + p) for p in paths),
            "accept": _lua_string(FRAME_ACCEPT),
            "authorization": _lua_string(endpoint.authorization),
            "mark": BENCH_MARK,
        }
    )
    threads = min(clients, os.cpu_count() or 1)
    command = [
        "wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
        "-s", str(script), f"http://{endpoint.host}:{endpoint.port}",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read().decode() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    script.unlink()
    lines = [line for line in output.splitlines() if line.startswith(BENCH_MARK)]
    if status != 0 or not lines:
        raise RuntimeError(f"wrk failed: {output[-2000:]}")
    result = json.loads(lines[-1][len(BENCH_MARK) :])
    if result["errors"]:
        raise RuntimeError(f"wrk saw {result['errors']} failed requests: {output[-2000:]}")
    seconds = result["duration_us"] / 1e6
    return {
        "client": f"wrk, {threads} thread(s)",
        "requests": result["requests"],
        "seconds": seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p95_ms": result["p95_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "mean_ms": result["mean_us"] / 1000,
        "client_cpu_s": usage.ru_utime + usage.ru_stime,
    }


def _frames_python(
    endpoint: Endpoint, paths: list[str], clients: int, duration: float
) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    deadline = time.perf_counter() + duration

    def worker(index: int) -> None:
        conn = endpoint.connection()
        headers = endpoint.headers(Accept=FRAME_ACCEPT)
        position = index * 53
        mine = latencies[index]
        while time.perf_counter() < deadline:
            position += 1
            start = time.perf_counter()
            conn.request("GET", endpoint.root + paths[position % len(paths)], headers=headers)
            response = conn.getresponse()
            body = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                errors.append(f"HTTP {response.status}: {body[:200]!r}")
                break
        conn.close()

    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if errors:
        raise RuntimeError(f"frame requests failed: {errors[0]}")
    every = [value for per_thread in latencies for value in per_thread]
    return {
        "client": f"Python http.client, {clients} thread(s)",
        "requests": len(every),
        "seconds": seconds,
        "p50_ms": _percentile(every, 50) * 1000,
        "p95_ms": _percentile(every, 95) * 1000,
        "p99_ms": _percentile(every, 99) * 1000,
        "mean_ms": statistics.fmean(every) * 1000,
        "client_cpu_s": usage.ru_utime
        + usage.ru_stime
        - usage_before.ru_utime
        - usage_before.ru_stime,
    }


def client_frames(
    endpoint: Endpoint,
    discovered: dict[str, Any],
    clients: int,
    duration: float,
    workdir: str,
    use_wrk: bool,
) -> dict[str, Any]:
    prefix = f"/studies/{discovered['study']}/series/{discovered['series']}/instances"
    paths = [f"{prefix}/{sop}/frames/1" for sop in discovered["sop_instance_uids"]]
    if use_wrk:
        result = _frames_wrk(endpoint, paths, clients, duration, Path(workdir))
    else:
        result = _frames_python(endpoint, paths, clients, duration)
    frames_per_s = result["requests"] / result["seconds"]
    return {
        **result,
        "clients": clients,
        "frames_per_s": frames_per_s,
        "mb_per_s": frames_per_s * discovered["frame_bytes"] / 1e6,
    }


def client_wait(endpoint: Endpoint, path: str, seconds: float) -> dict[str, Any]:
    """Poll ``path`` until it answers 200 (the server is up and the credentials work)."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            status, _, body = _get(endpoint, path, Accept="application/json")
            if status == 200:
                return {"ready": True}
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{endpoint.host}:{endpoint.port}{endpoint.root}{path} not ready: {last}")


def client_main(spec_text: str) -> None:
    spec = json.loads(spec_text)
    endpoint = Endpoint(**spec.pop("endpoint"))
    phase = spec.pop("phase")
    phases: dict[str, Callable[..., dict[str, Any]]] = {
        "wait": client_wait,
        "stow_available": client_stow_available,
        "ingest": client_ingest,
        "discover": client_discover,
        "metadata": client_metadata,
        "frames": client_frames,
    }
    print(BENCH_MARK + json.dumps(phases[phase](endpoint, **spec)))


# --- the orchestrator -----------------------------------------------------------------------


def _cpu_of(pid: int, *, with_children: bool = False) -> float:
    """CPU seconds of a process (and of its children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _machine_busy_s() -> float:
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / CLK_TCK


@dataclass
class Target:
    """One server under test: how to reach it, how to run a client next to it, its CPU."""

    name: str
    endpoint: Endpoint
    client_prefix: list[str] = field(default_factory=list)
    pid: int = 0
    database: str = ""  # PostgreSQL database whose backends count as the server's CPU
    postgres_url: str = ""

    def _database_pids(self) -> list[int]:
        if not self.database:
            return []
        import psycopg

        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def cpu(self) -> dict[int, float]:
        """CPU seconds by process: the server and its workers, and its database backends."""
        usage = {self.pid: _cpu_of(self.pid, with_children=True)}
        for child in _children(self.pid):
            usage[child] = _cpu_of(child)
        for backend in self._database_pids():
            usage[-backend] = _cpu_of(backend)  # negative keys: database, not app
        return usage

    def client(self, phase: str, **params: Any) -> dict[str, Any]:
        spec = {"endpoint": self.endpoint.__dict__, "phase": phase, **params}
        command = [
            *self.client_prefix, sys.executable, str(Path(__file__).resolve()),
            "--client", json.dumps(spec),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'platform'}:{REPO}"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith(BENCH_MARK)]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"{self.name} client ({phase}) failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(lines[-1][len(BENCH_MARK) :])
        return result


@contextmanager
def _measured(target: Target, client_cpu: dict[str, float]) -> Iterator[dict[str, Any]]:
    """CPU of the server, its database and the rest of the machine while the block runs."""
    record: dict[str, Any] = {"load_1min_before": os.getloadavg()[0]}
    before, busy_before = target.cpu(), _machine_busy_s()
    yield record
    after, busy_after = target.cpu(), _machine_busy_s()
    app = sum(v - before.get(k, 0.0) for k, v in after.items() if k >= 0)
    database = sum(v - before.get(k, 0.0) for k, v in after.items() if k < 0)
    record["server_cpu_s"] = app
    record["database_cpu_s"] = database
    record["machine_busy_s"] = busy_after - busy_before
    record["other_cpu_s"] = max(
        0.0, busy_after - busy_before - app - database - client_cpu.get("s", 0.0)
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started (its own session) quickly: SIGINT, then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def platform_server(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[Target, dict]]:
    """The platform as in production: serve-prod.sh, DEBUG=0, a fresh PostgreSQL database."""
    import psycopg
    from psycopg import sql

    admin_url = f"{args.postgres}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(args.database)))  # fmt: skip
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.database)))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'platform'}:{REPO}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEIDENTIFICATION_SECRET": "bench-" + secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: in production TLS ends at the proxy in front.
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"{args.postgres}/{args.database}",
        "SAGITTAL_VAR_DIR": str(workdir / "platform-var"),
        "MEDIA_ROOT": str(workdir / "platform-media"),
        "SAGITTAL_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    if args.workers:
        env["SAGITTAL_WEB_WORKERS"] = str(args.workers)
    if args.threads:
        env["SAGITTAL_WEB_THREADS"] = str(args.threads)
    python = sys.executable
    run_checked([python, "manage.py", "migrate", "--noinput"], env, "migrate")
    token = run_checked(
        [python, "manage.py", "shell", "-c", _CREATE_USER], env, "creating the bench user"
    ).split()[-1]
    log = (workdir / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "serve-prod.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        target = Target(
            name="platform",
            endpoint=Endpoint("127.0.0.1", port, "/dicomweb", f"Token {token}"),
            pid=server.pid,
            database=args.database,
            postgres_url=admin_url,
        )
        target.client("wait", path="/studies", seconds=60)
        yield target, env
    finally:
        _stop(server)
        log.close()
        if not args.keep_database:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(args.database)))  # fmt: skip


_CREATE_USER = """
from accounts.roles import Role
from accounts.services import user_create
from rest_framework.authtoken.models import Token
import secrets
user = user_create(actor=None, username="bench-coordinator", password=secrets.token_urlsafe(),
                   roles=[Role.COORDINATOR])
print(Token.objects.create(user=user).key)
"""


def _orthanc_version() -> str:
    done = subprocess.run(["Orthanc", "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].strip() if first else "unknown"


@contextmanager
def orthanc_server(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[Target, dict]]:
    """Orthanc with its DICOMweb plugin and HTTP authentication, in its own network namespace."""
    port = 8042 if not args.no_netns else free_port()
    password = secrets.token_urlsafe(16)
    config = {
        "Name": "sagittal-bench",
        "StorageDirectory": str(workdir / "orthanc-storage"),
        "IndexDirectory": str(workdir / "orthanc-index"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"bench": password},
        "Plugins": [str(ORTHANC_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }
    config_path = workdir / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    prefix: list[str] = []
    namespace = f"sagittal-bench-{os.getpid()}"
    if not args.no_netns:
        subprocess.run(["ip", "netns", "add", namespace], check=True)
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
                       check=True)  # fmt: skip
        prefix = ["ip", "netns", "exec", namespace]
    log = (workdir / "orthanc.log").open("wb")
    server = subprocess.Popen(
        [*prefix, "Orthanc", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        credentials = base64.b64encode(f"bench:{password}".encode()).decode()
        target = Target(
            name="orthanc",
            endpoint=Endpoint("127.0.0.1", port, "/dicom-web", f"Basic {credentials}"),
            client_prefix=prefix,
            pid=server.pid,
        )
        target.client("wait", path="/studies", seconds=60)
        shown = {**config, "RegisteredUsers": {"bench": "(random)"}}
        yield target, shown
    finally:
        _stop(server)
        log.close()
        if not args.no_netns:
            subprocess.run(["ip", "netns", "delete", namespace], check=False)


def generate_series(out_dir: Path, slices: int, size: int) -> list[Path]:
    """A cervical phantom CT, ``slices`` x ``size`` x ``size``, 16-bit, with PHI to remove."""
    from inference.phantoms import generate_cervical_case, write_cervical_ct_dicom

    return write_cervical_ct_dicom(
        generate_cervical_case(seed=11, shape=(slices, size, size)),
        out_dir,
        patient_name="BENCH^PATIENT^CT",
        patient_id="BENCH-0001",
        study_description="Benchmark cervical spine CT",
        uid_namespace=f"bench/{slices}/{size}",
    )


def _ingest_with_command(env: dict[str, str], files: list[Path], processes: int) -> dict:
    """Without STOW-RS: ``manage.py import_dicom`` in parallel processes (includes start-up)."""
    chunks = [files[i::processes] for i in range(processes)]
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [sys.executable, "manage.py", "import_dicom", *map(str, chunk)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        for chunk in chunks
    ]
    if any(process.wait() != 0 for process in running):
        raise RuntimeError("manage.py import_dicom failed")
    elapsed = time.perf_counter() - start
    return {
        "door": f"manage.py import_dicom, {processes} processes (Django start-up included)",
        "instances": len(files),
        "seconds": elapsed,
        "instances_per_s": len(files) / elapsed,
        "clients": processes,
    }


def _median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of every numeric figure; the rest from the first round."""
    merged = dict(rounds[0])
    for key, value in rounds[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = statistics.median(r[key] for r in rounds)
    merged["rounds"] = rounds
    return merged


def _measure_frames(target: Target, discovered: dict, clients: int, args: argparse.Namespace,
                    workdir: Path) -> dict[str, Any]:  # fmt: skip
    common = {"discovered": discovered, "clients": clients, "workdir": str(workdir),
              "use_wrk": args.client == "wrk"}  # fmt: skip
    target.client("frames", duration=args.warmup, **common)
    client_cpu: dict[str, float] = {}
    with _measured(target, client_cpu) as record:
        result = target.client("frames", duration=args.duration, **common)
        client_cpu["s"] = result["client_cpu_s"]
    requests = result["requests"]
    return {
        **result,
        **record,
        "server_cpu_ms_per_frame": record["server_cpu_s"] * 1000 / requests,
        "database_cpu_ms_per_frame": record["database_cpu_s"] * 1000 / requests,
        "client_cpu_ms_per_frame": result["client_cpu_s"] * 1000 / requests,
    }


def _measure_metadata(target: Target, path: str, args: argparse.Namespace) -> dict[str, Any]:
    client_cpu: dict[str, float] = {}
    with _measured(target, client_cpu) as record:
        result = target.client("metadata", path=path, requests=args.metadata_requests)
    return {**result, **record}


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="sagittal-bench-"))
    results: dict[str, Any] = {
        "benchmark": "dicomweb",
        "series": {"slices": args.slices, "rows": args.size, "columns": args.size, "bits": 16},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_1_5_15_at_start": os.getloadavg(),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "postgres"},
        "orthanc_version": _orthanc_version(),
    }
    try:
        print(f"generating a {args.slices} x {args.size} x {args.size} CT series ...", flush=True)
        files = generate_series(workdir / "series", args.slices, args.size)
        names = [str(path) for path in files]
        with ExitStack() as stack:
            platform_target, platform_env = stack.enter_context(platform_server(args, workdir))
            orthanc_target, orthanc_config = stack.enter_context(orthanc_server(args, workdir))
            results["orthanc_config"] = orthanc_config
            results["platform_server"] = {
                "command": "scripts/serve-prod.sh (gunicorn, gthread)",
                "workers": len(_children(platform_target.pid)),
                "threads_per_worker": int(platform_env.get("SAGITTAL_WEB_THREADS", "2")),
                "access_cache_seconds": int(platform_env.get("DICOMWEB_ACCESS_CACHE_SECONDS", "5")),
            }
            targets = [platform_target, orthanc_target]
            per: dict[str, dict[str, Any]] = {t.name: {} for t in targets}

            print("ingest ...", flush=True)
            stow = platform_target.client("stow_available")
            for target in targets:
                client_cpu: dict[str, float] = {}
                with _measured(target, client_cpu) as record:
                    if target is platform_target and not stow["available"]:
                        ingest = _ingest_with_command(platform_env, files, args.ingest_clients)
                    else:
                        ingest = target.client(
                            "ingest", files=names, batch=args.stow_batch,
                            clients=args.ingest_clients,
                        )  # fmt: skip
                per[target.name]["ingest"] = {**ingest, **record}
                per[target.name]["discovered"] = target.client("discover", files=names)

            print("series metadata ...", flush=True)
            meta_rounds: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
            frame_rounds: dict[str, dict[int, list[dict[str, Any]]]] = {
                t.name: {c: [] for c in args.concurrency} for t in targets
            }
            for round_number in range(args.rounds):
                order = targets if round_number % 2 == 0 else targets[::-1]
                for target in order:
                    found = per[target.name]["discovered"]
                    path = f"/studies/{found['study']}/series/{found['series']}/metadata"
                    meta_rounds[target.name].append(_measure_metadata(target, path, args))
                for clients in args.concurrency:
                    print(f"frames, {clients} client(s), round {round_number + 1} ...", flush=True)
                    for target in order:
                        found = per[target.name]["discovered"]
                        frame_rounds[target.name][clients].append(
                            _measure_frames(target, found, clients, args, workdir)
                        )
            for target in targets:
                entry = per[target.name]
                entry["metadata"] = _median_of(meta_rounds[target.name])
                entry["frames"] = {
                    str(c): _median_of(frame_rounds[target.name][c]) for c in args.concurrency
                }
                entry["discovered"] = {
                    k: v for k, v in entry["discovered"].items() if k != "sop_instance_uids"
                }
            results.update(per)
    finally:
        results["machine"]["load_1_5_15_at_end"] = os.getloadavg()
        if args.keep_files:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["targets"] = _targets(results, args)
    return results


def _targets(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    p, o = results["platform"], results["orthanc"]
    most = str(max(args.concurrency))
    frames_ratio = p["frames"][most]["frames_per_s"] / o["frames"][most]["frames_per_s"]
    meta_ratio = p["metadata"]["p50_ms"] / o["metadata"]["p50_ms"]
    ingest_ratio = p["ingest"]["instances_per_s"] / o["ingest"]["instances_per_s"]
    return {
        f"frames_{most}_clients_ratio": {"value": frames_ratio, "target": ">= 2",
                                         "met": frames_ratio >= 2},
        "series_metadata_p50_ratio": {"value": meta_ratio, "target": "<= 1/3",
                                      "met": meta_ratio <= 1 / 3},
        "ingest_ratio": {"value": ingest_ratio, "target": ">= 1", "met": ingest_ratio >= 1},
    }  # fmt: skip


def print_table(results: dict[str, Any]) -> None:
    p, o = results["platform"], results["orthanc"]
    series = results["series"]
    print()
    print(
        f"DICOMweb, {series['slices']} x {series['rows']}x{series['columns']} 16-bit CT: "
        f"platform vs {results['orthanc_version']} (same run)"
    )
    rows: list[tuple[str, str, str, str]] = []

    def add(label: str, pv: float, ov: float, unit: str = "", better: str = "higher") -> None:
        ratio = pv / ov if ov else float("nan")
        note = f"{ratio:.2f}x" + (" (lower is better)" if better == "lower" else "")
        rows.append((label, f"{pv:,.1f}{unit}", f"{ov:,.1f}{unit}", note))

    add("ingest, instances/s", p["ingest"]["instances_per_s"], o["ingest"]["instances_per_s"])
    for key, label in (("first_ms", "cold"), ("p50_ms", "p50"), ("p95_ms", "p95")):
        add(f"series metadata {label}, ms", p["metadata"][key], o["metadata"][key],
            better="lower")  # fmt: skip
    for clients in p["frames"]:
        pf, of = p["frames"][clients], o["frames"][clients]
        add(f"frames/s, {clients} client(s)", pf["frames_per_s"], of["frames_per_s"])
        add(f"  MB/s, {clients} client(s)", pf["mb_per_s"], of["mb_per_s"])
        add(f"  p50 ms, {clients} client(s)", pf["p50_ms"], of["p50_ms"], better="lower")
        add(f"  p95 ms, {clients} client(s)", pf["p95_ms"], of["p95_ms"], better="lower")
        server_p = pf["server_cpu_ms_per_frame"] + pf["database_cpu_ms_per_frame"]
        add(f"  server CPU ms/frame, {clients}", server_p, of["server_cpu_ms_per_frame"],
            better="lower")  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'platform':>12}  {'orthanc':>12}  platform/orthanc")
    for label, pv, ov, note in rows:
        print(f"{label:{width}}  {pv:>12}  {ov:>12}  {note}")
    print(f"ingest door (platform): {p['ingest']['door']}")
    for name, target in results["targets"].items():
        mark = "met" if target["met"] else "NOT met"
        print(f"target {name}: {target['value']:.3f} (want {target['target']}): {mark}")
    machine = results["machine"]
    print(f"load average at start {machine['load_1_5_15_at_start']}, "
          f"at end {machine['load_1_5_15_at_end']}")  # fmt: skip


def _preflight(args: argparse.Namespace) -> None:
    missing = []
    if shutil.which("Orthanc") is None or not ORTHANC_PLUGIN.exists():
        missing.append("orthanc orthanc-dicomweb")
    if args.client == "wrk" and shutil.which("wrk") is None:
        missing.append("wrk (or pass --client python)")
    if missing:
        sys.exit(f"missing: {', '.join(missing)}; install with apt-get install (see the docstring)")
    if not args.no_netns and os.geteuid() != 0:
        sys.exit("a network namespace for Orthanc needs root; run as root or pass --no-netns")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.database):
        sys.exit("--database must be a plain lower-case PostgreSQL name")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", dest="client_spec", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")  # fmt: skip
    parser.add_argument("--database", default="sagittal_bench",
                        help="database to (re)create for the platform")  # fmt: skip
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, help="gunicorn workers (serve-prod.sh default)")
    parser.add_argument("--threads", type=int, help="threads per worker (serve-prod.sh default)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per frames run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--metadata-requests", type=int, default=30)
    parser.add_argument("--stow-batch", type=int, default=10, help="instances per STOW request")
    parser.add_argument("--ingest-clients", type=int, default=4)
    parser.add_argument("--load-client", dest="client", choices=["wrk", "python"],
                        default="wrk" if shutil.which("wrk") else "python")  # fmt: skip
    parser.add_argument("--no-netns", action="store_true")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.client_spec:
        client_main(args.client_spec)
        return
    _preflight(args)
    results = run(args)
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
