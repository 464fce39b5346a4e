"""The viewer in real Chromium: rendering, windowing, sync, ROI statistics, mask overlay.

Each test opens the coordinator's case viewer on phantom cases served by the live server and
drives the component through its public contract (window.SagittalViewer / the case page's
viewer) and through real mouse and keyboard events.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Page

from cases.models import Case
from tests.browser.conftest import PageLog
from tests.browser.phantoms import PhantomFiles

VIEWER = "window.sagittalCaseViewer"
# The phantoms' dural canal (CSF) value in the mixed DECT image (inference/phantoms/lumbar.py).
CSF_HU = 12.0

SAMPLE_JS = """
([viewportId, points]) => {
  const viewer = window.sagittalCaseViewer;
  const cell = document.querySelector(`.sv-cell[data-viewport="${viewportId}"]`);
  const canvas = cell.querySelector("canvas");
  const rect = canvas.getBoundingClientRect();
  const copy = document.createElement("canvas");
  copy.width = canvas.width;
  copy.height = canvas.height;
  const context = copy.getContext("2d");
  context.drawImage(canvas, 0, 0);
  const sx = canvas.width / rect.width;
  const sy = canvas.height / rect.height;
  return points.map(([column, row]) => {
    const p = viewer.imageToClient(viewportId, [column, row]);
    const x = Math.floor((p.x - rect.left) * sx);
    const y = Math.floor((p.y - rect.top) * sy);
    return Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3));
  });
}
"""


def open_case(page: Page, live_server: Any, case: Case) -> dict[str, Any]:
    page.goto(f"{live_server.url}/viewer/cases/{case.pk}/")
    page.wait_for_function(
        f"{VIEWER} && {VIEWER}.getState().viewports.every(v => v.ready || v.error)"
    )
    # Wait for every slice and overlay: the assertions below read settled pixels.
    page.wait_for_function(
        f"{VIEWER}.getState().viewports.every(v => v.imagesLoaded === v.imagesTotal"
        " && (!v.overlay || v.overlay.ready))"
    )
    painted(page)
    state: dict[str, Any] = page.evaluate(f"{VIEWER}.getState()")
    assert [v["error"] for v in state["viewports"]] == [None] * len(state["viewports"])
    return state


def painted(page: Page) -> None:
    """Let cornerstone paint what was just changed (it renders on the next animation frame)."""
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def state_of(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(f"{VIEWER}.getState()")
    return state


def viewport(state: dict[str, Any], viewport_id: str) -> dict[str, Any]:
    return next(v for v in state["viewports"] if v["id"] == viewport_id)


def sample(page: Page, viewport_id: str, points: list[tuple[float, float]]) -> npt.NDArray[Any]:
    """RGB of the rendered canvas at image points [column, row] (cornerstone image coords)."""
    return np.asarray(page.evaluate(SAMPLE_JS, [viewport_id, points]), dtype=float)


def voxel_centres(mask: npt.NDArray[np.bool_], step: int = 1) -> list[tuple[float, float]]:
    rows, columns = np.nonzero(mask)
    return [(c + 0.5, r + 0.5) for r, c in zip(rows[::step], columns[::step], strict=True)]


def assert_tracks_stored_values(page: Page, viewport_id: str, hu: npt.NDArray[Any]) -> None:
    """Set a known window and compare the canvas with the stored values it should show."""
    page.evaluate(f"{VIEWER}.setWindow('{viewport_id}', {{width: 400, center: 40}})")
    assert viewport(state_of(page), viewport_id)["windowWidth"] == pytest.approx(400)
    painted(page)
    grid = np.zeros(hu.shape, dtype=bool)
    grid[8:-8:3, 8:-8:3] = True
    rendered = sample(page, viewport_id, voxel_centres(grid))
    # A DICOM linear window of width 400 and centre 40 (PS3.3 C.11.2.1.2.1).
    lower, upper = 40 - 0.5 - 399 / 2, 40 - 0.5 + 399 / 2
    expected = np.clip((hu.astype(float)[grid] - lower) / (upper - lower), 0, 1) * 255
    gray = rendered.mean(axis=1)
    assert gray.std() > 20, "the canvas is blank"
    assert np.abs(rendered[:, 0] - rendered[:, 2]).max() <= 2, "CT renders in grey"
    assert np.median(np.abs(gray - expected)) <= 3
    assert np.corrcoef(gray, expected)[0, 1] > 0.97


def assert_clean(log: PageLog) -> None:
    assert log.console_errors == []
    assert log.failed == []
    assert log.foreign_requests() == []


def test_ct_renders_and_tracks_the_stored_values(
    live_server: Any, cervical_case: Case, cervical_phantom: PhantomFiles,
    page_log: PageLog, page: Page,
) -> None:  # fmt: skip
    state = open_case(page, live_server, cervical_case)
    ct = viewport(state, "v1")
    assert ct["modality"] == "CT" and ct["numberOfSlices"] == 16
    assert_tracks_stored_values(page, "v1", cervical_phantom.ct_hu[ct["sliceIndex"]])
    assert_clean(page_log)


def test_scrolling_moves_the_ct_and_the_synchronized_mri_follows(
    live_server: Any, cervical_case: Case, page_log: PageLog, page: Page
) -> None:
    state = open_case(page, live_server, cervical_case)
    start = viewport(state, "v1")["sliceIndex"]
    assert viewport(state, "v2")["sliceIndex"] == start
    box = page.locator('.sv-cell[data-viewport="v1"]').bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    page.wait_for_function(
        f"{VIEWER}.getState().viewports[0].sliceIndex !== {start}"
        f" && {VIEWER}.getState().viewports[1].sliceIndex"
        f" === {VIEWER}.getState().viewports[0].sliceIndex"
    )
    moved = viewport(state_of(page), "v1")["sliceIndex"]
    assert abs(moved - start) == 1

    # Keyboard: the focused viewer scrolls its active viewport; the MRI follows again.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        f"{VIEWER}.getState().viewports[0].sliceIndex === {moved + 2}"
        f" && {VIEWER}.getState().viewports[1].sliceIndex === {moved + 2}"
    )
    # The MRI was never the one scrolled: window/level stays its own.
    after = state_of(page)
    assert viewport(after, "v2")["windowWidth"] != viewport(after, "v1")["windowWidth"]
    assert_clean(page_log)


def test_a_window_preset_changes_the_rendered_pixels_of_that_viewport_only(
    live_server: Any, cervical_case: Case, page_log: PageLog, page: Page
) -> None:
    open_case(page, live_server, cervical_case)
    grid = np.zeros((96, 96), dtype=bool)
    grid[10:-10:4, 10:-10:4] = True
    points = voxel_centres(grid)
    before_ct = sample(page, "v1", points)
    mri_window = viewport(state_of(page), "v2")["windowWidth"]

    page.select_option(".sv-toolbar select", "ct-bone")
    page.wait_for_function(f"{VIEWER}.getState().viewports[0].windowWidth === 2000")
    painted(page)
    after_ct = sample(page, "v1", points)

    assert np.abs(after_ct - before_ct).mean() > 10
    state = state_of(page)
    assert viewport(state, "v1")["windowCenter"] == pytest.approx(500)
    assert viewport(state, "v2")["windowWidth"] == pytest.approx(mri_window)

    # The shortcuts' help overlay opens with "?" and closes with Escape.
    help_panel = page.locator(".sv-help")
    assert help_panel.is_hidden()
    page.locator(".sv-root").focus()
    page.keyboard.press("?")
    assert help_panel.is_visible()
    assert "Elliptical ROI" in help_panel.inner_text()
    page.keyboard.press("Escape")
    assert help_panel.is_hidden()
    assert_clean(page_log)


def _canal_slice(
    mask: npt.NDArray[np.uint8],
) -> tuple[int, tuple[float, float], tuple[float, float]]:
    """A slice, centre (column, row) and semi-axes of an ellipse well inside the dural canal."""
    rows = np.arange(mask.shape[1])[:, None] + 0.5
    columns = np.arange(mask.shape[2])[None, :] + 0.5
    best: tuple[int, tuple[float, float], tuple[float, float]] | None = None
    for k in range(mask.shape[0] // 4, 3 * mask.shape[0] // 4):
        r, c = np.nonzero(mask[k])
        if not len(r):
            continue
        centre = (float(np.median(c)) + 0.5, float(np.median(r)) + 0.5)
        axes = (max(2.0, (c.max() - c.min()) / 5), max(2.0, (r.max() - r.min()) / 5))
        inside = ((columns - centre[0]) / axes[0]) ** 2 + ((rows - centre[1]) / axes[1]) ** 2 <= 1
        roomy = inside.sum() >= 20 and mask[k][inside].all()
        if roomy and (best is None or inside.sum() > np.pi * best[2][0] * best[2][1]):
            best = (k, centre, axes)
    assert best is not None, "the phantom has no slice with a roomy dural canal"
    return best


def test_elliptical_roi_on_csf_reports_the_phantom_csf_value(
    live_server: Any, lumbar_case: Case, lumbar_phantom: PhantomFiles,
    page_log: PageLog, page: Page,
) -> None:  # fmt: skip
    assert lumbar_phantom.mask is not None
    open_case(page, live_server, lumbar_case)
    k, (cx, cy), (ax, ay) = _canal_slice(lumbar_phantom.mask)
    page.evaluate(f"{VIEWER}.setSlice('v1', {k})")
    page.wait_for_function(f"{VIEWER}.getState().viewports[0].sliceIndex === {k}")
    painted(page)
    page.evaluate(
        "window.measured = []; document.getElementById('sagittal-viewer')"
        ".addEventListener('sagittal:measurement', (e) => window.measured.push(e.detail))"
    )
    page.click('.sv-toolbar button[data-tool="EllipticalROI"]')
    # cornerstone's ellipse tool draws from the centre to a corner of the bounding box.
    centre = page.evaluate(f"{VIEWER}.imageToClient('v1', [{cx}, {cy}])")
    corner = page.evaluate(f"{VIEWER}.imageToClient('v1', [{cx + ax}, {cy + ay}])")
    page.mouse.move(centre["x"], centre["y"])
    page.mouse.down()
    page.mouse.move(corner["x"], corner["y"], steps=8)
    page.mouse.up()
    page.wait_for_function("window.measured.length > 0")
    # The first event already carries the statistics of the final ellipse.
    detail = page.evaluate("window.measured[0]")
    assert detail["action"] == "completed"

    assert detail["type"] == "ellipticalROI"
    assert detail["viewportId"] == "v1" and detail["sliceIndex"] == k
    stats = detail["statistics"]
    assert stats["unit"] == "HU" and stats["sd"] > 0
    hu = lumbar_phantom.ct_hu[k].astype(float)
    rows = np.arange(hu.shape[0])[:, None] + 0.5
    columns = np.arange(hu.shape[1])[None, :] + 0.5
    inside = ((columns - cx) / ax) ** 2 + ((rows - cy) / ay) ** 2 <= 1
    assert stats["mean"] == pytest.approx(CSF_HU, abs=5)
    assert stats["mean"] == pytest.approx(hu[inside].mean(), abs=2)
    # Area in mm² of the ellipse the handles describe (top, bottom, left, right).
    (_, top), (_, bottom), (left, _), (right, _) = detail["geometry"]["image"]
    pixel_mm2 = lumbar_phantom.spacing_mm[1] * lumbar_phantom.spacing_mm[2]
    drawn = np.pi * (right - left) / 2 * (bottom - top) / 2 * pixel_mm2
    assert stats["area"] == pytest.approx(drawn, rel=0.02)
    assert (right - left) / 2 == pytest.approx(ax, abs=0.5)
    assert (bottom - top) / 2 == pytest.approx(ay, abs=0.5)

    # A length across 20 pixels of the same slice, with its keyboard shortcut.
    page.locator(".sv-root").focus()
    page.keyboard.press("l")
    page.wait_for_function(f"{VIEWER}.getState().activeTool === 'Length'")
    start = page.evaluate(f"{VIEWER}.imageToClient('v1', [40.5, 40.5])")
    end = page.evaluate(f"{VIEWER}.imageToClient('v1', [60.5, 40.5])")
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(end["x"], end["y"], steps=8)
    page.mouse.up()
    page.wait_for_function("window.measured.some((m) => m.type === 'length')")
    length = page.evaluate("window.measured.find((m) => m.type === 'length')")
    assert length["statistics"]["unit"] == "mm"
    assert length["statistics"]["length"] == pytest.approx(
        20 * lumbar_phantom.spacing_mm[2], abs=0.5 * lumbar_phantom.spacing_mm[2]
    )
    assert_clean(page_log)


def test_mask_overlay_shows_where_the_mask_is_and_toggles(
    live_server: Any, lumbar_case: Case, lumbar_phantom: PhantomFiles,
    page_log: PageLog, page: Page,
) -> None:  # fmt: skip
    assert lumbar_phantom.mask is not None
    state = open_case(page, live_server, lumbar_case)
    ct = viewport(state, "v1")
    assert ct["overlay"]["visible"] and ct["overlay"]["ready"]
    k = ct["sliceIndex"]
    mask = lumbar_phantom.mask[k].astype(bool)
    assert mask.sum() > 20
    # Inside: the canal eroded by a pixel. Outside: body at least 6 pixels from the mask.
    interior = mask & np.roll(mask, 1, 0) & np.roll(mask, -1, 0)
    interior &= np.roll(mask, 1, 1) & np.roll(mask, -1, 1)
    near = mask.copy()
    for _ in range(6):
        near |= (
            np.roll(near, 1, 0) | np.roll(near, -1, 0) | np.roll(near, 1, 1) | np.roll(near, -1, 1)
        )
    body = lumbar_phantom.ct_hu[k] > -500
    outside = body & ~near
    inside_points = voxel_centres(interior)
    outside_points = voxel_centres(outside, step=max(1, int(outside.sum()) // 200))

    inside = sample(page, "v1", inside_points)
    outside_rgb = sample(page, "v1", outside_points)
    tinted = inside[:, 0] - inside[:, 1]
    assert np.median(tinted) > 15, "the canal is not tinted by the mask"
    assert np.abs(outside_rgb[:, 0] - outside_rgb[:, 1]).max() <= 3, "tint outside the mask"

    page.locator(".sv-root").focus()
    page.keyboard.press("s")
    page.wait_for_function(f"{VIEWER}.getState().viewports[0].overlay.visible === false")
    painted(page)
    hidden = sample(page, "v1", inside_points)
    assert np.median(np.abs(hidden[:, 0] - hidden[:, 1])) <= 3
    assert_clean(page_log)


def test_two_by_two_layout_shows_mpr_and_3d_with_the_mask(
    live_server: Any, lumbar_case: Case, lumbar_phantom: PhantomFiles,
    page_log: PageLog, page: Page,
) -> None:  # fmt: skip
    assert lumbar_phantom.mask is not None
    open_case(page, live_server, lumbar_case)
    page.click('button[data-layout="2x2"]')
    page.wait_for_function(
        f"{VIEWER}.getState().viewports.length === 4 && {VIEWER}.getState().viewports"
        ".every(v => v.ready && v.imagesLoaded === v.imagesTotal"
        " && (!v.overlay || v.overlay.ready))"
    )
    state = state_of(page)
    assert [v["type"] for v in state["viewports"]] == ["stack", "stack", "sagittal", "volume3d"]
    assert all(v["error"] is None for v in state["viewports"])
    # The sagittal MPR through the canal: its slices run along the image columns.
    canal_column = int(np.median(np.nonzero(lumbar_phantom.mask)[2]))
    page.evaluate(f"{VIEWER}.setSlice('v3', {canal_column})")
    page.wait_for_function(f"{VIEWER}.getState().viewports[2].sliceIndex === {canal_column}")
    painted(page)
    for viewport_id in ("v3", "v4"):
        pixels = page.evaluate(
            """(id) => {
                const canvas = document.querySelector(`.sv-cell[data-viewport="${id}"] canvas`);
                const copy = document.createElement("canvas");
                copy.width = canvas.width; copy.height = canvas.height;
                const context = copy.getContext("2d");
                context.drawImage(canvas, 0, 0);
                const data = context.getImageData(0, 0, copy.width, copy.height).data;
                let lit = 0, amber = 0;
                for (let i = 0; i < data.length; i += 4) {
                    if (data[i] + data[i + 1] + data[i + 2] > 60) lit += 1;
                    if (data[i] > data[i + 2] + 60 && data[i + 1] > data[i + 2] + 30) amber += 1;
                }
                return {lit, amber, total: data.length / 4};
            }""",
            viewport_id,
        )
        assert pixels["lit"] > pixels["total"] * 0.05, f"{viewport_id} is blank"
        assert pixels["amber"] > 50, f"{viewport_id} does not show the mask"
    assert_clean(page_log)


def test_leaving_a_case_frees_the_viewer(
    live_server: Any, cervical_case: Case, page_log: PageLog, page: Page
) -> None:
    """destroy() lets go of the rendering engine, tools and every cached image."""
    open_case(page, live_server, cervical_case)
    assert page.evaluate("window.SagittalViewer.cacheStats().bytes") > 0
    page.evaluate(f"{VIEWER}.destroy()")
    assert page.locator(".sv-root").count() == 0
    # Frames still on the wire are let land first; then nothing stays cached.
    page.wait_for_function("window.SagittalViewer.cacheStats().bytes === 0")
    assert page.evaluate("window.SagittalViewer.cacheStats().volumes") == 0
    assert_clean(page_log)


def test_compressed_series_decode_with_the_bundled_codecs(
    live_server: Any, compressed_case: Case, compressed_phantom: PhantomFiles,
    page_log: PageLog, page: Page,
) -> None:  # fmt: skip
    """JPEG 2000 CT and JPEG-LS MRI frames, sent as stored, decode in the bundle's worker with
    its WebAssembly codecs, fetched from this origin, to the stored values."""
    state = open_case(page, live_server, compressed_case)
    ct = viewport(state, "v1")
    assert_tracks_stored_values(page, "v1", compressed_phantom.ct_hu[ct["sliceIndex"]])
    spread = np.zeros(compressed_phantom.ct_hu.shape[1:], dtype=bool)
    spread[::8, ::8] = True
    mri = sample(page, "v2", voxel_centres(spread))
    assert mri.std() > 10, "the MRI canvas is blank"
    codecs = [url for url in page_log.requests if url.endswith(".wasm")]
    assert any("openjpeg" in url for url in codecs) and any("charls" in url for url in codecs)
    assert_clean(page_log)
