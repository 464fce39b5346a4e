"""End to end in real Chromium: a reader reads a SLIC case, the surgeon an NC-CTM vs MRM case.

The reader logs in, opens the workstation from the reading home, scrolls the viewer, answers
every question type of the template, sees the computed total, submits, and the next case opens.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from readerstudy.models import ReaderStudy, Reading
from tests.browser_support import login
from tests.conftest import PASSWORD

# Software WebGL on a shared CI machine is slow; the limits are generous on purpose.
WAIT_MS = 90_000


def _page(browser: Browser) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    # Software WebGL on a shared CI machine is slow; the limits are generous on purpose.
    page.set_default_timeout(WAIT_MS)
    return page


def _question(page: Page, key: str):  # type: ignore[no-untyped-def]
    return page.locator(f'fieldset.question[data-key="{key}"]')


# What a reader clicks, in each language: yes, no, burst fracture (2), suspected injury (1), and
# what the autosave says.
SLIC_LABELS = {
    "en": ("Yes", "No", "2 — Burst fracture", "1 — Suspected injury", "Saved"),
    "ja": ("はい", "いいえ", "2 — 破裂骨折", "1 — 損傷の疑い", "保存しました"),
}


def _answer_slic_case(page: Page, labels: tuple[str, ...]) -> None:
    """Answer case 1 as the published reader did: SLIC 2 + 1 = 3, injury at C4-C5."""
    yes, no, burst, suspected, saved = labels
    for key, answer in (
        ("retropharyngeal_hematoma", no),
        ("disc_injury", yes),
        ("cord_edema", yes),
        ("canal_stenosis", no),
        ("interspinous_ligament_injury", yes),
    ):
        _question(page, key).get_by_label(answer, exact=True).check()
    _question(page, "sci_level").locator("select").nth(0).select_option("C4")
    _question(page, "sci_level").locator("select").nth(1).select_option("C5")
    _question(page, "slic_ct_morphology").get_by_label(burst).check()
    _question(page, "slic_mri_dlc").get_by_label(suspected).check()
    expect(_question(page, "slic_total").locator("output")).to_have_text("3", timeout=WAIT_MS)
    expect(page.locator("#ws-saved")).to_contain_text(saved, timeout=WAIT_MS)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_reader_a_reads_a_slic_case_end_to_end(
    live_server,  # type: ignore[no-untyped-def]
    slic_study: ReaderStudy,
    reader_a: User,
    browser: Browser,
) -> None:
    page = _page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, live_server.url, reader_a.username)
    page.goto(f"{live_server.url}/reading/")
    page.get_by_role("link", name="Cervical spine trauma reading · Session 1").click()
    page.wait_for_url(re.compile(r".*/cases/1/$"))
    expect(page.locator("#ws-progress")).to_have_text("Case 1 of 3", timeout=WAIT_MS)
    expect(page.locator("fieldset.question")).to_have_count(9, timeout=WAIT_MS)

    # The viewer shows CT | MRI and scrolls with the mouse wheel.
    info = page.locator('[data-viewport="viewport-1"] .sv-info')
    expect(info).to_have_text(re.compile(r"Im \d+/8"), timeout=WAIT_MS)
    expect(page.locator('[data-viewport="viewport-2"] .sv-label')).to_have_text(
        "MRI", timeout=WAIT_MS
    )
    before = info.inner_text()
    page.locator('[data-viewport="viewport-1"] .sv-viewport').hover()
    for _ in range(3):
        page.mouse.wheel(0, 120)
    expect(info).not_to_have_text(before, timeout=WAIT_MS)

    # Every question type of the template: yes/no, vertebral level range, ordinal, computed.
    _answer_slic_case(page, SLIC_LABELS["en"])

    page.click("#ws-submit")
    page.wait_for_url(re.compile(r".*/cases/2/$"))
    expect(page.locator("#ws-progress")).to_have_text("Case 2 of 3", timeout=WAIT_MS)
    expect(page.locator("fieldset.question")).to_have_count(9, timeout=WAIT_MS)

    (reading,) = Reading.objects.filter(assignment__reader=reader_a, status="submitted")
    assert reading.answers == {
        "retropharyngeal_hematoma": False,
        "disc_injury": True,
        "cord_edema": True,
        "sci_level": {"from": "C4", "to": "C5"},
        "canal_stenosis": False,
        "interspinous_ligament_injury": True,
        "slic_ct_morphology": 2,
        "slic_mri_dlc": 1,
        "slic_total": 3,
    }
    assert not errors, errors


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_surgeon_answers_an_ncctm_case(
    live_server,  # type: ignore[no-untyped-def]
    ncctm_study: ReaderStudy,
    surgeon: User,
    browser: Browser,
) -> None:
    page = _page(browser)
    login(page, live_server.url, surgeon.username)
    page.goto(f"{live_server.url}/reading/")
    page.get_by_role("link", name=re.compile("Lumbar decompression planning images")).click()
    page.wait_for_url(re.compile(r".*/cases/1/$"))
    expect(page.locator("#ws-progress")).to_have_text("Case 1 of 2", timeout=WAIT_MS)
    expect(page.locator('[data-viewport="viewport-1"] .sv-label')).to_have_text(
        "A", timeout=WAIT_MS
    )
    expect(page.locator('[data-viewport="viewport-2"] .sv-label')).to_have_text(
        "B", timeout=WAIT_MS
    )
    _question(page, "agreement_a").get_by_label("4 — Agree").check()
    _question(page, "agreement_b").get_by_label("2 — Disagree").check()
    _question(page, "closer").get_by_label("A is closer").check()
    expect(page.locator("#ws-saved")).to_contain_text("Saved", timeout=WAIT_MS)
    page.click("#ws-submit")
    page.wait_for_url(re.compile(r".*/cases/2/$"))
    expect(page.locator("#ws-progress")).to_have_text("Case 2 of 2", timeout=WAIT_MS)
    (reading,) = Reading.objects.filter(assignment__reader=surgeon, status="submitted")
    assert reading.answers == {"agreement_a": 4, "agreement_b": 2, "closer": "A"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_japanese_reader_reads_and_submits_a_slic_case_in_japanese(
    live_server,  # type: ignore[no-untyped-def]
    slic_study: ReaderStudy,
    reader_a: User,
    browser: Browser,
) -> None:
    # A browser set to Japanese (Accept-Language ja-JP): no saved preference is needed.
    context = browser.new_context(locale="ja-JP", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("h1")).to_have_text("ログイン")
    page.fill("input[name=username]", reader_a.username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(re.compile(r".*/$"))
    page.goto(f"{live_server.url}/reading/")
    expect(page.locator("h1")).to_have_text("あなたの読影")
    page.get_by_role("link", name="頸椎外傷の読影 · 第1セッション").click()
    page.wait_for_url(re.compile(r".*/cases/1/$"))
    expect(page.locator("#ws-progress")).to_have_text("症例 1 / 3", timeout=WAIT_MS)
    expect(page.locator("fieldset.question")).to_have_count(9, timeout=WAIT_MS)
    expect(_question(page, "disc_injury").locator("legend")).to_have_text("椎間板損傷 *")
    expect(page.locator("#ws-submit")).to_have_text("提出して次の症例へ")

    _answer_slic_case(page, SLIC_LABELS["ja"])
    # The viewer's toolbar speaks Japanese too.
    expect(page.locator(".sv-toolbar").first).to_contain_text("リセット", timeout=WAIT_MS)

    page.click("#ws-submit")
    page.wait_for_url(re.compile(r".*/cases/2/$"))
    expect(page.locator("#ws-progress")).to_have_text("症例 2 / 3", timeout=WAIT_MS)
    (reading,) = Reading.objects.filter(assignment__reader=reader_a, status="submitted")
    assert reading.answers["slic_ct_morphology"] == 2 and reading.answers["slic_mri_dlc"] == 1
    assert reading.answers["sci_level"] == {"from": "C4", "to": "C5"}
    assert reading.answers["disc_injury"] is True and reading.answers["slic_total"] == 3
    assert not errors, errors
    context.close()
