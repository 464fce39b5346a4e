"""Chromium (Debian's /usr/bin/chromium) driven by Playwright against the live server.

Playwright starts per test, after the database fixtures and before their teardown: its sync
API runs an event loop in this thread, and Django refuses ORM calls from such a thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page

from accounts.models import User
from cases.models import Case, Region
from tests.browser.phantoms import (
    PhantomFiles,
    cervical_files,
    compressed_cervical_files,
    import_case,
    lumbar_files,
)


@dataclass
class PageLog:
    """What the page said and asked for while a test drove it."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob")
            and f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" != self.origin
        ]


@pytest.fixture(scope="session")
def cervical_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return cervical_files(tmp_path_factory.mktemp("browser-cervical"))


@pytest.fixture(scope="session")
def compressed_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return compressed_cervical_files(tmp_path_factory.mktemp("browser-compressed"))


@pytest.fixture(scope="session")
def lumbar_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return lumbar_files(tmp_path_factory.mktemp("browser-lumbar"))


@pytest.fixture
def cervical_case(transactional_db: None, cervical_phantom: PhantomFiles) -> Case:
    return import_case(cervical_phantom, label="BROWSER-C1", region=Region.CERVICAL)


@pytest.fixture
def compressed_case(transactional_db: None, compressed_phantom: PhantomFiles) -> Case:
    return import_case(compressed_phantom, label="BROWSER-C2", region=Region.CERVICAL)


@pytest.fixture
def lumbar_case(transactional_db: None, lumbar_phantom: PhantomFiles) -> Case:
    return import_case(lumbar_phantom, label="BROWSER-L1", region=Region.LUMBAR)


@pytest.fixture
def session_cookie(transactional_db: None, coordinator: User) -> str:
    client = Client()
    client.force_login(coordinator)
    return client.cookies["sessionid"].value


@pytest.fixture
def page_log(live_server: Any) -> PageLog:
    parts = urlsplit(live_server.url)
    return PageLog(origin=f"{parts.scheme}://{parts.netloc}")


@pytest.fixture
def page(
    live_server: Any, session_cookie: str, page_log: PageLog, browser: Browser
) -> Iterator[Page]:
    """A logged-in coordinator's page; console errors and requests are recorded.

    Tests name it after their database fixtures, so those are set up before Playwright starts.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    host = urlsplit(live_server.url).hostname
    context.add_cookies(
        [{"name": "sessionid", "value": session_cookie, "domain": host, "path": "/"}]
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.on(
        "console",
        lambda message: message.type == "error" and page_log.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: page_log.console_errors.append(f"page error: {error}"))
    page.on("request", lambda request: page_log.requests.append(request.url))
    page.on("requestfailed", lambda request: page_log.failed.append(request.url))
    try:
        yield page
    finally:
        context.close()
