"""``featx view``: only the given slides, tiles on the fly, overlays with right values, in Chromium."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from featx.report.live_viewer import (
    SlideViewer,
    ViewerSources,
    serve,
    viewer_slides,
)
from featx.report.viewer import viewer_files
from featx.wsi import open_slide
from featx.wsi.deepzoom import DeepZoom
from tests.browser import browser_page, wait_for_data
from tests.scored_cohort import EXTRACTOR, make_scored_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_scored_cohort(tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="module")
def viewer(cohort):
    sources = ViewerSources(viewer_slides([cohort.slides]), slidescores=cohort.slidescores,
                            store=cohort.store, extractor=EXTRACTOR, n_clusters=2)
    return SlideViewer(sources)


@pytest.fixture(scope="module")
def server(viewer):
    running = serve(viewer.sources, port=0)
    running.viewer = viewer  # share the warm caches
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def _json(viewer, path):
    response = viewer.respond(path)
    assert response.status == 200, response.body
    return json.loads(response.body)


@pytest.mark.parametrize("path", [
    "/dz/../../etc/passwd", "/asset/..%2F..%2Fpyproject.toml", "/asset/%2e%2e/pyproject.toml",
    "/slide/..", "/slide/%2E%2E%2Fslides%2FS-A", "/etc/passwd", "/dz/S-A/99/0_0.jpeg",
    "/dz/S-A/12/0_0.jpeg/../../../x", "/overlay/S-A/nothing.png", "/slides/S-A.svs",
    "/probe/S-C.gif",
])
def test_nothing_outside_the_given_slides_is_served(viewer, path):
    assert viewer.respond(path).status == 404


def test_tiles_are_cut_on_the_fly_at_full_resolution(viewer, cohort):
    response = viewer.respond("/dz/S-A/12/3_2.jpeg")
    assert response.status == 200 and response.content_type == "image/jpeg"
    tile = np.asarray(Image.open(io.BytesIO(response.body)), float)
    with open_slide(cohort.slides / "S-A.svs") as slide:
        expected = DeepZoom(slide).tile(12, 3, 2).astype(float)
    assert tile.shape == expected.shape and np.abs(tile - expected).mean() < 3  # JPEG only


def test_the_slide_list_shows_scores_highest_first(viewer):
    page = viewer.respond("/").body.decode()
    assert page.index("S-A") < page.index("S-B")  # topk_score 0.9 before 0.7
    assert "topk_score" in page and "0.900" in page and "/slide/S-A" in page


def test_overlays_read_out_the_values_that_were_written(viewer, cohort):
    page = viewer.respond("/slide/S-B").body.decode()
    config = json.loads(page.split("id='featx-config'>")[1].split("</script>")[0])
    assert [layer["name"] for layer in config["layers"]] == ["probability", "heatmap", "clusters"]
    assert config["mpp"] == 0.5 and config["dzi"]["Image"]["Url"] == "/dz/S-B/"
    tiles = cohort.tiles[cohort.tiles["slide_id"] == "S-B"]
    grid = _json(viewer, "/values/S-B/probability.json")
    values = np.array(grid["values"], dtype=float).reshape(grid["rows"], grid["cols"])
    assert np.array_equal(values[tiles["row"], tiles["col"]], tiles["prob"].to_numpy())
    assert grid["stride"] == pytest.approx(256) and grid["extent"] == pytest.approx(256)
    heat = _json(viewer, "/values/S-B/heatmap.json")
    assert np.nanmax(np.array(heat["values"], dtype=float)) == pytest.approx(0.45)
    # One k-means over both slides: its two clusters are the two sides of every slide.
    clusters = _json(viewer, "/values/S-B/clusters.json")
    labels = np.array(clusters["values"], dtype=float).reshape(clusters["rows"], clusters["cols"])
    by_side = {side: set(labels[g["row"], g["col"]].astype(int))
               for side, g in tiles.groupby("right")}
    assert all(len(v) == 1 for v in by_side.values()) and by_side[True] != by_side[False]
    image = np.asarray(Image.open(io.BytesIO(viewer.respond("/overlay/S-B/probability.png").body)))
    assert image.shape == (1229, 2048, 4)  # the slide's shape, 2048 pixels wide at most
    assert image[5, 5, 3] == 0  # glass: transparent
    right, left = image[614, 1536], image[614, 512]  # level-0 x = 3000 and 1000
    assert right[3] == left[3] == 255 and right[:3].sum() > left[:3].sum() + 200


def _get(server, path):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def test_the_server_survives_clients_that_leave_mid_tile(server, capfd):
    host, port = server.server_address[:2]
    for level in range(4, 13):  # a new tile each time, so each one is being made when we leave
        with socket.create_connection((host, port)) as raw:
            raw.sendall(f"GET /dz/S-A/{level}/0_0.jpeg HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.5)
    status, body = _get(server, "/dz/S-A/12/1_1.jpeg")
    assert status == 200 and body[:2] == b"\xff\xd8"
    assert _get(server, "/dz/../../etc/passwd")[0] == 404
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.slow
def test_in_chromium_the_slide_opens_the_overlay_toggles_and_deep_zoom_loads(server, cohort,
                                                                          artifacts_dir):
    base = server.url
    with browser_page() as page:
        page.goto(base)
        assert "S-A" in page.content() and "topk_score" in page.content()
        page.goto(base + "slide/S-A")
        # Events, not a time budget: the test holds however loaded the machine is.
        assert wait_for_data(page, "viewer-ready", "v === 'true'") == "true"
        assert int(wait_for_data(page, "tiles-loaded", "Number(v) > 0")) > 0
        assert page.evaluate("document.documentElement.dataset.overlayLayer") == "probability"
        page.screenshot(path=str(artifacts_dir / "view-synthetic-overlay-on.png"))
        # The read-out under the pointer: a tile right of the middle has probability 0.9.
        page.mouse.move(900, 360)
        page.mouse.move(901, 361)
        page.wait_for_function("document.getElementById('readout').textContent"
                               ".includes('tumour probability 0.9')", timeout=60000)
        page.keyboard.press("Space")
        assert wait_for_data(page, "overlay-visible", "v === 'false'") == "false"
        page.screenshot(path=str(artifacts_dir / "view-synthetic-overlay-off.png"))
        page.keyboard.press("Space")
        page.keyboard.press("]")  # the next layer
        assert wait_for_data(page, "overlay-layer", "v === 'heatmap'") == "heatmap"
        page.goto("about:blank")
        page.goto(base + "slide/S-A#at=0.7,0.5")  # full resolution inside the tissue
        with open_slide(cohort.slides / "S-A.svs") as slide:
            full = DeepZoom(slide).max_level
        assert int(wait_for_data(page, "max-level", f"Number(v) === {full}")) == full
        refused = page.goto(base + "asset/..%2F..%2Fpyproject.toml")
        assert refused.status == 404 and "[project]" not in page.content()


@pytest.mark.slow
def test_a_static_viewer_page_opens_the_live_viewer_when_it_runs(server, cohort, tmp_path):
    tiles = cohort.tiles[cohort.tiles["slide_id"] == "S-A"]
    port = server.server_address[1]
    for name, data in viewer_files(cohort.slides / "S-A.svs", tiles, "S-A", live_port=port).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    static = (tmp_path / "viewer-S-A.html").resolve().as_uri()
    with browser_page() as page:
        page.goto(static)
        page.wait_for_url(f"{server.url}slide/S-A", timeout=60000)
        assert wait_for_data(page, "overlay-layer", "v === 'probability'") == "probability"
        page.goto("about:blank")
        page.goto(static + "#static")  # for e-mail: the static page stays
        assert wait_for_data(page, "viewer-ready", "v === 'true'") == "true"
        assert page.url.startswith("file:")


@pytest.mark.slow
def test_cmu1_in_chromium(shared_data, artifacts_dir):
    sources = ViewerSources(viewer_slides([shared_data / "wsi" / "CMU-1-Small-Region.svs"]))
    running = serve(sources, port=0)
    threading.Thread(target=running.serve_forever, daemon=True).start()
    try:
        with browser_page() as page:
            page.goto(running.url + "slide/CMU-1-Small-Region#at=0.5,0.5")
            assert int(wait_for_data(page, "max-level", "Number(v) === 12")) == 12
            page.screenshot(path=str(artifacts_dir / "view-cmu1-full-resolution.png"))
    finally:
        running.shutdown()
        running.server_close()


def test_a_slide_too_large_for_a_static_viewer_is_linked_to_the_live_one(cohort, monkeypatch):
    from featx.report import viewer
    from featx.report.slides import slidescore_section

    monkeypatch.setattr(viewer, "MAX_DEEPZOOM_TILES", 10)
    slides = {s: cohort.slides / f"{s}.svs" for s in ("S-A", "S-B")}
    section = slidescore_section(cohort.slidescores, slides=slides, max_overlays=0)
    hrefs = [href for _, href in section.links]
    assert "http://127.0.0.1:8765/slide/S-A" in hrefs and "http://127.0.0.1:8765/slide/S-B" in hrefs


def test_dicom_and_ome_tiff_slides_are_served_too(tmp_path):
    pytest.importorskip("pydicom", reason="pydicom (featx[dicom]) reads DICOM WSI")
    import tifffile

    from tests.wsi._dicom_files import write_dicom_wsi

    yy, xx = np.mgrid[0:300, 0:400]  # smooth, so JPEG keeps it: a place shows in its colour
    image = np.stack([xx * 255 // 399, yy * 255 // 299, (xx + yy) % 256 // 2 + 64],
                     axis=2).astype(np.uint8)
    folder = tmp_path / "slides" / "case-7"  # one DICOM slide: a folder of instances
    folder.mkdir(parents=True)
    write_dicom_wsi(folder / "level0.dcm", image)
    tifffile.imwrite(tmp_path / "slides" / "ome.ome.tif", image, photometric="rgb",
                     metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    slides = viewer_slides([tmp_path / "slides"])
    assert sorted(slides) == ["case-7", "ome"]
    viewer = SlideViewer(ViewerSources(slides))
    for slide_id in slides:
        response = viewer.respond(f"/dz/{slide_id}/9/0_0.jpeg")  # full resolution (2^9 = 512)
        assert response.status == 200, response.body
        tile = np.asarray(Image.open(io.BytesIO(response.body)), float)
        assert tile.shape == (255, 255, 3)
        assert np.abs(tile - image[:255, :255]).mean() < 4  # JPEG: close, not equal
    page = viewer.respond("/").body.decode()
    assert "dicom" in page and "ome-tiff" in page
