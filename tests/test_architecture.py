"""The repository stands alone and keeps its floors (docs/architecture.md).

``make lint`` runs ``lint-imports`` with ``.importlinter``; here the same contracts run on a copy
of the sources, once as they are (kept) and once per kind of breach a change could bring (each
must fail, naming the import), so a contract that silently stopped checking fails a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SOURCE_DIRS = ("platform", "readerstudy", "inference")
# Spelled in two parts so that this file does not name the folder it forbids.
OUTSIDE_FOLDER = ".." + "/shared"
OUTSIDE_SETTING = "SAGITTAL_" + "SHARED_DIR"  # how the suite once found that folder


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if listed.returncode == 0:
        paths = [REPO_ROOT / name.decode() for name in listed.stdout.split(b"\0") if name]
    else:  # not a git checkout (an unpacked archive): every file but the generated ones
        skipped = {".git", ".venv", "var", "node_modules", "static", "__pycache__"}
        paths = [
            p for p in REPO_ROOT.rglob("*") if not skipped & set(p.relative_to(REPO_ROOT).parts)
        ]
    text_suffixes = {".py", ".sh", ".toml", ".cfg", ".ini", ".json", ".md", ".txt", ""}
    return [
        path
        for path in paths
        if path.is_file() and path.suffix in text_suffixes and "frontend/static" not in str(path)
    ]


def test_no_test_script_or_product_file_reads_outside_the_repository() -> None:
    offenders = []
    for path in _tracked_text_files():
        relative = path.relative_to(REPO_ROOT)
        if relative.parts[0] == "docs" or relative.suffix == ".md":
            continue  # prose may mention the research folder; nothing runs from it
        text = path.read_text(encoding="utf-8", errors="replace")
        if OUTSIDE_FOLDER in text or OUTSIDE_SETTING in text:
            offenders.append(str(relative))
    assert not offenders, f"files that read outside the repository: {offenders}"


def _copy_sources(target: Path) -> None:
    def only_python(folder: str, names: list[str]) -> list[str]:
        return [
            name
            for name in names
            if name == "__pycache__"
            or (not (Path(folder) / name).is_dir() and not name.endswith(".py"))
        ]

    for name in SOURCE_DIRS:
        shutil.copytree(REPO_ROOT / name, target / name, ignore=only_python)
    (target / "scripts").mkdir()
    shutil.copy(REPO_ROOT / "scripts" / "import_floors.py", target / "scripts")
    shutil.copy(REPO_ROOT / ".importlinter", target / ".importlinter")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'platform'}{os.pathsep}{tree}", "COLUMNS": "200"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("sources")
    _copy_sources(tree)
    return tree


def test_the_sources_keep_every_contract(source_copy: Path) -> None:
    result = _lint_imports(source_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


BREACHES = {
    # inference and readerstudy share a floor: neither imports the other.
    "floor": ("inference/jobs.py", "from readerstudy import models as _study_models\n"),
    # A lower floor never imports a higher one.
    "floor-down": ("platform/cases/selectors.py", "import inference.jobs\n"),
    # results.load <- results.files <- tasks: the loader importing the tasks closes a loop.
    "cycle": ("readerstudy/results/load.py", "import readerstudy.tasks\n"),
    # The cores stay Django-free ...
    "core-django": ("readerstudy/statistics/segmentation.py", "import django.db\n"),
    # ... and import no app (not even the app they live in).
    "core-app": ("inference/phantoms/labels.py", "import inference.models\n"),
    "private": ("readerstudy/api/enrolment.py", "from readerstudy.selectors import _hidden\n"),
}


@pytest.mark.parametrize("breach", sorted(BREACHES))
def test_lint_imports_fails_on_a_breach(breach: str, tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    relative, line = BREACHES[breach]
    target = tmp_path / relative
    target.write_text(target.read_text(encoding="utf-8") + line, encoding="utf-8")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    module = relative.removesuffix(".py").removeprefix("platform/").replace("/", ".")
    assert module in result.stdout, result.stdout
