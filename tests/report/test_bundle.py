"""A report that travels: its zip opens in another folder with every link working (Chromium);
the page alone keeps every link but the slide viewers, and says so beside them."""

from __future__ import annotations

import base64
import re
import shutil
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from featx.report import build_report, write_bundle, write_report
from featx.slidescore import score_slides
from featx.wsi import TileSpec, grid_coords, open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from tests.browser import browser_page, wait_for_data


@pytest.fixture(scope="module")
def viewer_report(tmp_path_factory) -> Path:
    """A slide-score report with a zoomable viewer per slide (folders of tiles beside it)."""
    tmp = tmp_path_factory.mktemp("bundle")
    spec = TileSpec(tile_px=128, tile_mpp=1.0, min_tissue=0.5)
    paths, parts = {}, []
    for i in range(2):
        regions = [Region(64, 64, 700, 500)] + (
            [Region(300, 200, 300, 200, "ellipse", "tumour")] if i == 0 else [])
        paths[f"S{i}"] = write_synthetic_slide(tmp / f"S{i}.svs", width_px=768, height_px=640,
                                               slide_mpp=0.5, regions=regions, seed=i).path
        with open_slide(paths[f"S{i}"]) as slide:
            tiles = grid_coords(slide, spec)
        parts.append(tiles.assign(slide_id=f"S{i}", prob=0.9 if i == 0 else 0.1))
    table = pd.concat(parts, ignore_index=True)
    scores = tmp / "scores"
    score_slides(table, scores, labels=pd.Series({"S0": 1, "S1": 0}), k=2, forest=False)
    table.to_parquet(scores / "tile_probabilities.parquet")
    return write_report(build_report("slides", slidescores=scores, slides=paths),
                        tmp / "reports" / "slides").folder


def _links(page) -> list[str]:
    return page.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.href)")


def test_the_bundle_opens_elsewhere_with_every_link_working(viewer_report, tmp_path,
                                                            artifacts_dir):
    bundle = write_bundle(viewer_report)
    assert bundle == viewer_report.with_suffix(".zip")
    elsewhere = tmp_path / "inbox"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(elsewhere)
    page_path = elsewhere / "slides" / "report.html"
    with browser_page() as page:
        page.goto(page_path.resolve().as_uri())
        assert wait_for_data(page, "links-missing", "true") == "0"
        links = _links(page)
        viewers = [href for href in links if href.startswith("file:")]
        assert len(viewers) == 2 and all("viewer-S" in v for v in viewers)
        for href in links:  # every link resolves: a file of the bundle or data in the page
            if href.startswith("file:"):
                assert Path(unquote(urlparse(href).path)).is_file(), href
            else:
                assert href.startswith("data:"), href
                base64.b64decode(href.split(",", 1)[1])
        page.goto(viewers[0])
        assert wait_for_data(page, "viewer-ready", "v === 'true'") == "true"
        assert int(wait_for_data(page, "tiles-loaded", "Number(v) > 0")) > 0
        page.screenshot(path=str(artifacts_dir / "bundle-viewer-elsewhere.png"))


def test_the_page_alone_says_which_links_need_the_folder(viewer_report, tmp_path):
    alone = tmp_path / "mail" / "report.html"
    alone.parent.mkdir()
    shutil.copy(viewer_report / "report.html", alone)
    with browser_page() as page:
        page.goto(alone.resolve().as_uri())
        assert wait_for_data(page, "links-missing", "true") == "2"
        marked = page.evaluate("Array.from(document.querySelectorAll('a.missing'), "
                               "a => a.parentElement.textContent)")
        assert len(marked) == 2 and all("not in this copy" in m for m in marked)
        others = [h for h in _links(page) if "viewer-" not in h]
        assert others and all(h.startswith("data:") for h in others)
    assert re.search(r"download='slide-scores\.csv'", alone.read_text())


def test_a_folder_without_a_report_is_refused(tmp_path):
    from featx.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="report.html"):
        write_bundle(tmp_path)
    assert not tmp_path.with_suffix(".zip").exists()
