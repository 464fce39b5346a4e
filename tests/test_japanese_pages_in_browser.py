"""Every page, as each persona, in a Japanese Chromium: no English UI text is left.

The pages are the platform's own routes (the permission matrix's URL walk and its world of
objects); each one that answers a persona with HTML is opened in Chromium with the ``ja-JP``
locale, its script runs, and the text a user reads (text nodes, titles, placeholders, ARIA
labels) is searched for English words. What a user entered or a file carries (case labels,
usernames, series descriptions, JSON) is marked ``translate="no"`` in the templates, as HTML
means that attribute; proper nouns, DICOM keywords, units and abbreviations are allowed below.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser

from tests.browser_support import login
from tests.readerstudy.conftest import (  # noqa: F401 (fixtures used by name)
    cervical_dicom,
    other_coordinator,
    slic_cases,
    slic_study,
)
from tests.test_permission_matrix import _routes, _url, world  # noqa: F401

PERSONAS = ("reader_a", "coordinator", "admin")
# Words a Japanese page writes in Latin letters: the product's name, modalities and sequences,
# methods and statistics known by their authors' names, units and file formats.
ALLOWED = {
    "Sagittal", "English", "CT", "MRI", "MR", "MRM", "SEG", "NC-CTM", "DECT", "STIR", "T2",
    "DICOM", "DICOMweb", "ZIP", "CSV", "XLSX", "JSON", "PDF", "API", "UTF-8", "Shift_JIS",
    "ROI", "SLIC", "DLC", "CNR", "SD", "IQR", "MPR", "3D", "WW", "WL", "AI", "GPU", "CPU",
    "MONAI", "U-Net", "DDIM", "Stable", "Diffusion", "img2img", "diffusers", "Subaxial",
    "Injury", "Classification", "Cohen", "Fleiss", "Gwet", "AC1", "AC2", "Krippendorff",
    "PABAK", "Wald", "Wilcoxon", "Williams", "McNemar", "ICC", "Pearson", "Bland-Altman", "SE",
    "sha256", "manage.py", "train_ncctm", "train_pseudomri", "register_model", "is_current",
    "false", "in_progress", "PROTOCOLS.md", "MB", "px", "mm", "JST", "UTC", "p", "n", "A", "B",
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "L1", "L2", "L3", "L4", "L5", "S1", "Im",
    "PgUp", "PgDn", "Esc", "AM", "PM", "Asia", "Tokyo",
}  # fmt: skip
# Swagger UI and ReDoc: third-party developer tools for the API, in English.
DEVELOPER_PAGES = {"api-docs", "api-redoc"}
# A word starts after a non-letter-digit (so "1x2", "v7" inside "C2-C7" and the hex groups of a
# UUID do not count as words); identifiers (question keys, zone names) are not words either.
WORD = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z][A-Za-z0-9_.'\u2019/-]*")
HEX_ID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
ZONE_NAME = re.compile(r"[A-Z][A-Za-z]+(/[A-Z][A-Za-z-]+)+")

# The visible text, with what users entered or files carry (translate="no") left out.
READ_TEXT = """() => {
  const skipped = (el) => el.closest('[translate="no"], pre, code, script, style, noscript');
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !skipped(parent)) parts.push(walker.currentNode.textContent);
  }
  for (const el of document.querySelectorAll("[title], [placeholder], [aria-label]")) {
    if (skipped(el)) continue;
    for (const name of ["title", "placeholder", "aria-label"]) {
      if (el.hasAttribute(name)) parts.push(el.getAttribute(name));
    }
  }
  // The title names data too (a case label, a model): what the page marks as data is removed.
  let title = document.title;
  for (const el of document.querySelectorAll('[translate="no"]')) {
    const data = el.textContent.trim();
    if (data) title = title.split(data).join(" ");
  }
  parts.push(title);
  return parts.join("\\n");
}"""


def english_words(text: str) -> set[str]:
    words = set()
    for word in WORD.findall(text):
        stripped = word.strip(".'\u2019/-")
        if "_" in stripped or ZONE_NAME.fullmatch(stripped) or HEX_ID.fullmatch(stripped):
            continue  # an identifier: a question key, a zone name (Asia/Tokyo), a UUID
        if len(stripped) > 1 and stripped not in ALLOWED and not stripped.isupper():
            words.add(stripped)
    return words


def _html_pages(world: dict[str, Any], persona: str) -> list[str]:  # noqa: F811
    """The URLs that answer ``persona`` with an HTML page (200)."""
    client = Client(HTTP_ACCEPT_LANGUAGE="ja")
    client.force_login(world["users"][persona])
    urls = []
    for name, route in sorted(_routes()):
        if name in DEVELOPER_PAGES:
            continue
        url = _url(route, name, world)
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            urls.append(url)
    return urls


def test_the_check_finds_english_and_allows_proper_nouns() -> None:
    assert english_words("保存しました。Cohen の κ、CT 骨条件") == set()
    assert english_words("症例 1 / 3 · Submit and next case") == {"Submit", "and", "next", "case"}
    assert english_words("Window/level: Asia/Tokyo, cord_edema, C2-C7, 1x2") == {"Window/level"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_reads_japanese_for_each_persona(
    live_server,  # type: ignore[no-untyped-def]
    world: dict[str, Any],  # noqa: F811
    persona: str,
    browser: Browser,
) -> None:
    user = world["users"][persona]
    pages = _html_pages(world, persona)
    assert len(pages) >= 3, pages
    context = browser.new_context(locale="ja-JP", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    login(page, live_server.url, user.username)
    leaks = {}
    for url in pages:
        page.goto(f"{live_server.url}{url}", wait_until="domcontentloaded")
        page.wait_for_load_state("load")
        if "/reading/assignments/" in url:  # the questionnaire is built by script
            page.locator("fieldset.question").first.wait_for()
        page.wait_for_timeout(300)  # live tables and the viewer's first labels
        assert page.evaluate("document.documentElement.lang") == "ja", url
        found = english_words(page.evaluate(READ_TEXT))
        if found:
            leaks[url] = sorted(found)
    context.close()
    assert not leaks, "\n".join(f"{url}: {words}" for url, words in leaks.items())
