"""The catalogues are complete: every string the sources mark has a Japanese translation.

The sources are copied and their strings extracted again (``makemessages``, GNU xgettext) into
the copied catalogues: a string marked since the catalogues were last refreshed arrives there
untranslated, and fails the test just as an untranslated entry in the committed files does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from tests.conftest import REPO_ROOT

LANGUAGES = ("ja",)
DOMAINS = ("django", "djangojs")
# What makemessages reads (tests, scripts and the built viewer bundle are not the product's text).
SOURCES = (
    "manage.py",
    "platform",
    "readerstudy",
    "inference",
    "frontend/templates",
    "frontend/src",
)
STATIC = REPO_ROOT / "frontend" / "static"
IGNORES = ["--ignore=frontend/static/viewer", "--ignore=frontend/node_modules"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%%")


def _copy_sources(root: Path) -> None:
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    shutil.copytree(STATIC, root / "frontend" / "static", ignore=shutil.ignore_patterns("viewer"))
    shutil.copytree(REPO_ROOT / "locale", root / "locale")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sources with catalogues refreshed from them."""
    root = tmp_path_factory.mktemp("catalogues")
    _copy_sources(root)
    env = {"DEBUG": "1", "PYTHONPATH": f"{root / 'platform'}:{root}", "PATH": "/usr/bin:/bin"}
    for extra in ([], ["-d", "djangojs", "-e", "js", "-e", "ts"]):
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "makemessages",
                "--all",
                "--no-location",
                *extra,
                *IGNORES,
            ],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
    return root / "locale"


def _untranslated(catalogue: polib.POFile) -> list[str]:
    return [
        entry.msgid
        for entry in catalogue
        if not entry.obsolete
        and (
            entry.fuzzy
            or not (entry.msgstr or any(entry.msgstr_plural.values()))
            or any(not text for text in entry.msgstr_plural.values())
        )
    ]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_marked_string_has_a_translation(extracted: Path, language: str, domain: str):
    fresh = polib.pofile(str(extracted / language / "LC_MESSAGES" / f"{domain}.po"))
    assert len(fresh) > 50, "nothing was extracted: is xgettext installed?"
    missing = _untranslated(fresh)
    assert not missing, (
        f"{len(missing)} strings have no {language} translation (run `make messages` and "
        f"translate them in locale/{language}/LC_MESSAGES/{domain}.po): {missing[:20]}"
    )
    committed = polib.pofile(str(REPO_ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po"))
    stale = {e.msgid for e in fresh if not e.obsolete} - {e.msgid for e in committed}
    assert not stale, f"the committed catalogue lacks {sorted(stale)[:20]}: run `make messages`"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_every_placeholder(language: str, domain: str) -> None:
    catalogue = polib.pofile(str(REPO_ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po"))
    wrong = []
    for entry in catalogue.translated_entries():
        expected = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        for text in [entry.msgstr, *entry.msgstr_plural.values()]:
            if text and sorted(PLACEHOLDER.findall(text)) != expected:
                wrong.append((entry.msgid, text))
    assert not wrong, wrong


def test_an_untranslated_string_fails_the_check(tmp_path: Path) -> None:
    # The check itself: a catalogue with one empty entry is reported.
    catalogue = polib.POFile()
    catalogue.append(polib.POEntry(msgid="Translated", msgstr="翻訳済み"))
    catalogue.append(polib.POEntry(msgid="Forgotten", msgstr=""))
    catalogue.append(polib.POEntry(msgid="Guessed", msgstr="推測", flags=["fuzzy"]))
    assert _untranslated(catalogue) == ["Forgotten", "Guessed"]
