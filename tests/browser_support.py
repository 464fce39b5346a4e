"""Chromium (Debian's /usr/bin/chromium) driven by Playwright: the browser every browser test
uses, and logging in through the login page.

Playwright's sync API runs an event loop in the test's thread, and Django refuses ORM calls from
such a thread unless told they are safe (they are: the test's own ORM calls are synchronous).
Tests name the ``browser`` fixture after their database fixtures, so those are set up before
Playwright starts and torn down after it stops.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# Software WebGL 2 (SwiftShader through ANGLE): what a GPU-less CI machine has.
CHROMIUM_ARGS = [
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def login(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the login page; wait for the landing page."""
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
