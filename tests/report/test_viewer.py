"""The slide viewer: DeepZoom tiles, the probability overlay, and the page in Chromium."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from featx.errors import DataError
from featx.report.viewer import ASSET_DIR, overlay_png, viewer_files
from featx.wsi.synthetic import write_synthetic_slide
from tests.browser import browser_page, wait_for_data


@pytest.fixture(scope="module")
def slide_and_tiles(tmp_path_factory):
    path = write_synthetic_slide(tmp_path_factory.mktemp("viewer") / "V.svs", width_px=1024,
                                 height_px=768, slide_mpp=0.5).path
    # A 4 x 3 grid of 256-px tiles: probability rises left to right, the last row has none.
    tiles = pd.DataFrame([{"x": 256 * c, "y": 256 * r, "level": 0, "read_px": 256,
                           "prob": c / 3} for c in range(4) for r in range(2)])
    return path, tiles


def test_overlay_paints_each_tile_footprint_and_leaves_the_rest_clear(slide_and_tiles):
    _, tiles = slide_and_tiles
    image = np.asarray(Image.open(io.BytesIO(overlay_png(tiles, (1024, 768), [1.0]))))
    assert image.shape == (768, 1024, 4)
    assert image[700, 100, 3] == 0  # no tile there: transparent
    low, high = image[100, 100], image[100, 900]  # inferno: 0 near black, 1 pale yellow
    assert low[3] == high[3] == 255
    assert low[:3].sum() < 60 and high[0] > 200 and high[1] > 200


def test_viewer_files_hold_a_pyramid_the_page_and_the_script(slide_and_tiles):
    path, tiles = slide_and_tiles
    files = viewer_files(path, tiles, "V 1")
    assert "viewer-V-1.html" in files and f"{ASSET_DIR}/openseadragon.min.js" in files
    levels = {name.split("/")[2] for name in files if "/tiles/" in name}
    assert len(levels) >= 10  # DeepZoom halves down to one pixel
    page = files["viewer-V-1.html"].decode()
    assert '"Width": "1024"' in page and "viewer-V-1/overlay.png" in page
    with pytest.raises(DataError, match="prob"):
        viewer_files(path, tiles.drop(columns="prob"), "V")


def test_viewer_opens_in_chromium_and_the_space_bar_toggles_the_overlay(slide_and_tiles,
                                                                       tmp_path, artifacts_dir):
    path, tiles = slide_and_tiles
    for name, data in viewer_files(path, tiles, "V").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with browser_page() as page:
        page.goto((tmp_path / "viewer-V.html").resolve().as_uri())
        # Events, not a time budget: the test holds however loaded the machine is.
        assert wait_for_data(page, "viewer-ready", "v === 'true'") == "true"
        assert int(wait_for_data(page, "tiles-loaded", "Number(v) > 0")) > 0
        assert page.evaluate("document.documentElement.dataset.overlayVisible") == "true"
        page.screenshot(path=str(artifacts_dir / "viewer.png"))
        page.keyboard.press("Space")
        assert wait_for_data(page, "overlay-visible", "v === 'false'") == "false"
        page.keyboard.press("Space")
        assert wait_for_data(page, "overlay-visible", "v === 'true'") == "true"
    assert (artifacts_dir / "viewer.png").stat().st_size > 5000
