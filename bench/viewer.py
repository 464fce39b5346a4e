"""Viewer speed in headless Chromium, as issue 4 asks: a 200-slice 512 x 512 CT served by the
platform, from navigation to the first rendered slice, to all slices loaded, and the scroll
frame rate over cached slices.

The platform runs as in production (``scripts/serve-prod.sh``: gunicorn gthread workers,
``DEBUG=0``, static files collected and served by WhiteNoise with their manifest hashes) on
loopback, against a fresh SQLite database under the work directory (``--database-url`` for
PostgreSQL). Chromium is Debian's, with software WebGL (SwiftShader), as in the browser tests.
Cold rounds open the case viewer in a fresh browser profile (no HTTP cache, no compiled
code); hot rounds reuse one profile after two warm-up loads, as a reader going from case to
case does. Each round shows one CT viewport, records the viewer's own events
(``sagittal:ready`` once the first slice is painted, ``sagittal:loaded`` once every slice is
decoded) against the navigation start, then steps through all cached slices, each waited for
until painted. The machine's load average goes into the results: on a shared 2-core machine
the figures move with it.

Run: ``PYTHONPATH=platform:. .venv/bin/python bench/viewer.py`` (``--help``: rounds, size,
workers); prints a table and writes ``bench/results/viewer.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_HERE = Path(__file__).resolve().parent
# Run as a script, Python puts bench/ first on sys.path, where bench/statistics.py shadows the
# standard library's module (hence numpy for medians below): keep the repository's roots only.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from bench.support import free_port, run_checked  # noqa: E402

REPO = _HERE.parent
RESULTS = _HERE / "results" / "viewer.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-dev-shm-usage",
]
TARGETS = {"first_image_s": 0.5, "all_slices_s": 1.5}

_SETUP = """
import sys
from django.test import Client
from accounts.roles import Role
from accounts.services import user_create
from cases.models import Region, Study
from cases.services import case_create
user = user_create(actor=None, username="bench-viewer", password="{password}",
                   roles=[Role.COORDINATOR])
case = case_create(actor=None, label="BENCH-VIEWER", region=Region.CERVICAL,
                   studies=Study.objects.all())
client = Client()
client.force_login(user)
print(case.pk, client.cookies["sessionid"].value)
"""

# Recorded in the page before any script runs: the viewer's events against navigation start.
_INIT_SCRIPT = """
window.__bench = { rendered: 0 };
document.addEventListener("sagittal:ready", () => {
  window.__bench.ready ??= performance.now();
}, true);
document.addEventListener("sagittal:loaded", () => {
  window.__bench.loaded ??= performance.now();
}, true);
document.addEventListener("CORNERSTONE_IMAGE_RENDERED", () => {
  window.__bench.rendered += 1;
}, true);
"""

# Where the first image's time went, from the browser's own timings (ms from navigation).
_STEPS_JS = r"""
() => {
  const resources = performance.getEntriesByType("resource");
  const ended = (test) =>
    Math.min(...resources.filter((e) => test(e.name)).map((e) => e.responseEnd));
  const navigation = performance.getEntriesByType("navigation")[0];
  return {
    html_received: navigation.responseEnd,
    script_received: ended((url) => /\/viewer-[^/]*\.js$/.test(url)),
    script_run: navigation.domContentLoadedEventEnd,
    metadata_received: ended((url) => url.endsWith("/metadata")),
    first_frame_received: ended((url) => url.includes("/frames/")),
  };
}
"""

# Step through every cached slice, each one waited for until it is painted.
_SCROLL_JS = """
async (viewportId) => {
  const viewer = window.sagittalCaseViewer;
  const { sliceIndex, numberOfSlices } = viewer.getState().viewports
    .find((v) => v.id === viewportId);
  const order = [...Array(numberOfSlices).keys()].filter((i) => i !== sliceIndex);
  const start = performance.now();
  for (const i of order) {
    const painted = new Promise((resolve) => document.addEventListener(
      "CORNERSTONE_IMAGE_RENDERED", resolve, { once: true, capture: true }));
    await viewer.setSlice(viewportId, i);
    await painted;
  }
  return order.length / ((performance.now() - start) / 1000);
}
"""


def generate_series(out_dir: Path, slices: int, size: int) -> list[Path]:
    """A cervical phantom CT, ``slices`` x ``size`` x ``size``, 16-bit."""
    from inference.phantoms import generate_cervical_case, write_cervical_ct_dicom

    return write_cervical_ct_dicom(
        generate_cervical_case(seed=11, shape=(slices, size, size)),
        out_dir,
        patient_name="BENCH^VIEWER^CT",
        patient_id="BENCH-VIEWER",
        study_description="Viewer benchmark cervical spine CT",
        uid_namespace=f"bench-viewer/{slices}/{size}",
    )


@contextmanager
def platform_server(args: argparse.Namespace, workdir: Path) -> Iterator[dict[str, Any]]:
    """The platform as in production, loaded with one CT case; yields its URL and session."""
    port = free_port()
    var = workdir / "var"
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'platform'}:{REPO}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEIDENTIFICATION_SECRET": "bench-" + secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: in production TLS ends at the proxy in front.
        "SECURE_SSL_REDIRECT": "0",
        "SAGITTAL_VAR_DIR": str(var),
        "STATIC_ROOT": str(workdir / "static"),
        "SAGITTAL_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.workers:
        env["SAGITTAL_WEB_WORKERS"] = str(args.workers)
    if args.threads:
        env["SAGITTAL_WEB_THREADS"] = str(args.threads)
    python = sys.executable
    files = generate_series(workdir / "dicom", args.slices, args.size)
    run_checked([python, "manage.py", "migrate", "--noinput"], env, "migrate")
    run_checked([python, "manage.py", "collectstatic", "--noinput"], env, "collectstatic")
    run_checked([python, "manage.py", "import_dicom", str(workdir / "dicom")], env, "import_dicom")
    setup = _SETUP.format(password=secrets.token_urlsafe())
    output = run_checked([python, "manage.py", "shell", "-c", setup], env, "creating the case")
    case_id, session = output.split()[-2:]
    log = (workdir / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "serve-prod.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                login = f"{url}/accounts/login/"  # http on loopback, built here
                with urllib.request.urlopen(login, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {workdir / 'gunicorn.log'}")
            time.sleep(0.3)
        yield {"url": url, "case_id": case_id, "session": session, "instances": len(files)}
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


def _open_case(context: Any, server: dict[str, Any], label: str) -> dict[str, Any]:
    """Navigate to the case viewer, wait for every slice, then scroll; one round's figures."""
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server['url']}/viewer/cases/{server['case_id']}/")
    page.wait_for_function("window.__bench.ready && window.__bench.loaded", timeout=120_000)
    timing = page.evaluate("window.__bench")
    steps = page.evaluate(_STEPS_JS)
    scroll_fps = page.evaluate(_SCROLL_JS, "v1")
    page.close()
    return {
        "kind": label,
        "first_image_s": timing["ready"] / 1000,
        "all_slices_s": timing["loaded"] / 1000,
        "steps_s": {name: value / 1000 for name, value in steps.items()},
        "scroll_fps": scroll_fps,
        "frame_requests": sum("/frames/" in url for url in requests),
        "requests": len(requests),
        "load_average_1min": os.getloadavg()[0],
    }


def measure(server: dict[str, Any], rounds: int) -> list[dict[str, Any]]:
    """``rounds`` cold loads (a fresh browser profile each: no HTTP or compiled-code cache),
    then ``rounds`` hot ones in one profile after two warm-up loads (a returning reader: the
    bundle comes from the HTTP cache and V8 reuses its compiled code)."""
    from playwright.sync_api import sync_playwright

    cookie = {"name": "sessionid", "value": server["session"], "domain": "127.0.0.1", "path": "/"}
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )

        def new_context() -> Any:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([cookie])
            context.add_init_script(_INIT_SCRIPT)
            return context

        for _ in range(rounds):
            context = new_context()
            results.append(_open_case(context, server, "cold"))
            context.close()
        context = new_context()
        for _ in range(2):
            _open_case(context, server, "warm-up")
        for _ in range(rounds):
            results.append(_open_case(context, server, "hot"))
        context.close()
        browser.close()
    return results


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind in ("cold", "hot"):
        chosen = [item for item in rounds if item["kind"] == kind]
        summary[kind] = {
            key: {
                "median": float(np.median([item[key] for item in chosen])),
                "min": min(item[key] for item in chosen),
                "max": max(item[key] for item in chosen),
            }
            for key in ("first_image_s", "all_slices_s", "scroll_fps")
        }
    for kind in ("cold", "hot"):
        chosen = [item["steps_s"] for item in rounds if item["kind"] == kind]
        summary[kind]["steps_s_median"] = {
            name: float(np.median([item[name] for item in chosen])) for name in chosen[0]
        }
    summary["load_average_1min_median"] = float(
        np.median([item["load_average_1min"] for item in rounds])
    )
    return summary


def print_table(results: dict[str, Any]) -> None:
    summary = results["summary"]
    print()
    print(f"Viewer: {results['series']}, {results['server']}, {results['browser']}")
    print(f"{'figure':34} {'median':>8} {'min':>8} {'max':>8} {'target':>8}")
    rows = [
        ("first rendered slice (s)", "first_image_s", TARGETS["first_image_s"]),
        ("all slices loaded (s)", "all_slices_s", TARGETS["all_slices_s"]),
        ("scroll over cached slices (fps)", "scroll_fps", None),
    ]
    for kind in ("cold", "hot"):
        for label, key, target in rows:
            figure = summary[kind][key]
            shown = f"<= {target:g}" if target is not None else ""
            print(
                f"{label + ', ' + kind:34} {figure['median']:8.3f} {figure['min']:8.3f} "
                f"{figure['max']:8.3f} {shown:>8}"
            )
    for kind in ("cold", "hot"):
        steps = ", ".join(f"{k} {v:.2f}" for k, v in summary[kind]["steps_s_median"].items())
        print(f"{kind} (s from navigation, medians): {steps}")
    print(
        f"rounds: {len(results['rounds']) // 2} cold (fresh profile) + as many hot (same "
        f"profile, after two warm-up loads); machine load average (1 min, median): "
        f"{summary['load_average_1min_median']:.1f} on {os.cpu_count()} CPUs"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workers", type=int, help="gunicorn workers (serve-prod.sh default)")
    parser.add_argument("--threads", type=int, help="threads per worker (serve-prod.sh default)")
    parser.add_argument("--database-url", help="e.g. postgres://... (default: SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing: run `make system-deps`")
    workdir = Path(tempfile.mkdtemp(prefix="sagittal-bench-viewer-"))
    try:
        with platform_server(args, workdir) as server:
            rounds = measure(server, args.rounds)
        version = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        results = {
            "series": f"{args.slices} x {args.size} x {args.size} CT (16-bit, uncompressed)",
            "server": "scripts/serve-prod.sh (gunicorn gthread, DEBUG=0, WhiteNoise)"
            + (f", {args.workers} workers" if args.workers else ""),
            "browser": f"{version} headless, SwiftShader WebGL",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "targets": TARGETS,
            "rounds": rounds,
            "summary": summarize(rounds),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2))
        print_table(results)
        print(f"wrote {RESULTS.relative_to(REPO)}")
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
