"""``featx view`` on a generated 100,000-pixel slide: memory while panning, and screenshots.

Writes (or reuses) a 100,000 x 80,000 px Aperio-style slide at 0.25 microns per pixel
with three pieces of tissue (one tumour), its tile probabilities and heatmap as
``featx slidescore`` writes them, starts ``featx view`` in its own process and pans:

1. **HTTP pan**: as a browser at full resolution would, a 1600 x 1000 viewport walks
   across the slide (through tissue and glass) in steps of 400 screen pixels and asks
   for every tile it shows, six at a time; every tenth step it zooms out to the
   overview and back. The server's resident memory (RSS) is sampled every 50 ms.
2. **Chromium pan**: the viewer page in headless Chromium (driven by Playwright), opened
   at full resolution (``#at=``) and dragged with the mouse 40 times across the slide,
   each drag waiting for its tiles, RSS sampled the same way.

Then screenshots (``test-artifacts/``) of the slide with the overlay on and off, zoomed
out and at full resolution, and of CMU-1-Small-Region from the data folder with a
stand-in overlay (tile darkness, not a model). Memory is reported as RSS after the
first 200 tiles, the peak, and the growth between them: flat means the growth stays
within the tile cache's budget (32 MB).

Run: ``nice -n 19 .venv/bin/python benchmarks/bench_viewer.py [--folder /tmp/bench-viewer]``
(measured on the shared 2-core development machine; numbers in the issue-27 closing note).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
WIDTH, HEIGHT, MPP = 100_000, 80_000, 0.25
TILE = 254


def make_slide(folder: Path) -> tuple[Path, Path]:
    """The slide and its slide-score folder (written once, then reused)."""
    from featx.wsi import TileSpec, grid_coords, open_slide
    from featx.wsi.synthetic import Region, write_synthetic_slide

    slides, scores = folder / "slides", folder / "scores"
    slide = slides / "BIG-100k.svs"
    if not slide.is_file():
        slides.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        regions = [Region(15_000, 20_000, 12_000, 9_000, "ellipse", "normal"),
                   Region(50_000, 44_000, 12_000, 10_000, "ellipse", "normal"),
                   Region(54_000, 47_000, 4_000, 3_500, "ellipse", "tumour")]
        write_synthetic_slide(slide, width_px=WIDTH, height_px=HEIGHT, slide_mpp=MPP,
                              regions=regions, downsamples=(1, 4, 16, 64, 256), tile_px=512,
                              grain=False)
        print(f"slide written in {time.perf_counter() - t0:.0f} s "
              f"({slide.stat().st_size / 1e6:.0f} MB)", flush=True)
    if not (scores / "tile_probabilities.parquet").is_file():
        scores.mkdir(parents=True, exist_ok=True)
        with open_slide(slide) as opened:
            tiles = grid_coords(opened, TileSpec(tile_px=224, tile_mpp=0.5, min_tissue=0.5))
        centre_x, centre_y = tiles["x"] + 224, tiles["y"] + 224
        tumour = ((centre_x - 56_000) / 2_000) ** 2 + ((centre_y - 48_750) / 1_750) ** 2 <= 1
        rng = np.random.default_rng(0)
        tiles["prob"] = np.clip(np.where(tumour, 0.85, 0.1) + rng.normal(0, 0.05, len(tiles)),
                                0, 1)
        tiles.to_parquet(scores / "tile_probabilities.parquet")
        grid = np.full((tiles["row"].max() + 1, tiles["col"].max() + 1), np.nan)
        grid[tiles["row"], tiles["col"]] = tiles["prob"]
        np.savez(scores / "heatmaps.npz", **{"BIG-100k": grid})
        pd.DataFrame({"slide_id": ["BIG-100k"], "topk_score": [0.85]}).to_csv(
            scores / "slide_scores.csv", index=False)
        print(f"{len(tiles)} scored tiles", flush=True)
    return slides, scores


class Server:
    """``featx view`` in its own process, and its RSS sampled every 50 ms."""

    def __init__(self, *args: str) -> None:
        import psutil

        self.process = subprocess.Popen([sys.executable, "-m", "featx", "view", *args,
                                         "--port", "0"], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        self.url = line.split(" at ")[1].split()[0]
        self._ps, self.samples, self._stop = psutil.Process(self.process.pid), [], False
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop:
            self.samples.append((time.perf_counter(), self._ps.memory_info().rss))
            time.sleep(0.05)

    def rss_mb(self) -> float:
        return self._ps.memory_info().rss / 2**20

    def close(self) -> None:
        self._stop = True
        self.process.terminate()
        self.process.wait(timeout=30)


def viewport_tiles(level: int, max_level: int, cx: float, cy: float, w: int = 1600,
                   h: int = 1000) -> list[tuple[int, int, int]]:
    scale = 2 ** (max_level - level)  # level-0 px per screen px at this level
    lw, lh = math.ceil(WIDTH / scale), math.ceil(HEIGHT / scale)
    x0, y0 = max(0, cx / scale - w / 2), max(0, cy / scale - h / 2)
    x1, y1 = min(lw, x0 + w), min(lh, y0 + h)
    return [(level, c, r) for c in range(int(x0 // TILE), int(math.ceil(x1 / TILE)))
            for r in range(int(y0 // TILE), int(math.ceil(y1 / TILE)))]


def http_pan(server: Server) -> dict[str, float]:
    max_level = math.ceil(math.log2(WIDTH))
    times: list[float] = []

    def fetch(tile: tuple[int, int, int]) -> None:
        t0 = time.perf_counter()
        level, col, row = tile
        with urllib.request.urlopen(f"{server.url}dz/BIG-100k/{level}/{col}_{row}.jpeg") as r:
            r.read()
        times.append(time.perf_counter() - t0)

    # Across the slide: through both pieces of tissue and the glass between and around them.
    path = [(x, 34_000 + 14_000 * math.tanh((x - 40_000) / 8_000)) for x in range(4_000, 96_000, 400)]
    warm_rss, n, quarters = None, 0, []
    start = time.perf_counter()
    with ThreadPoolExecutor(6) as pool:
        for step, (cx, cy) in enumerate(path):
            if step and step % (len(path) // 4) == 0:
                quarters.append(round(server.rss_mb()))
            tiles = viewport_tiles(max_level, max_level, cx, cy)
            if step % 10 == 9:  # zoom out to the overview and back in
                for level in range(max_level - 1, max_level - 8, -1):
                    tiles += viewport_tiles(level, max_level, cx, cy)
            list(pool.map(fetch, tiles))
            n += len(tiles)
            if warm_rss is None and n >= 200:
                warm_rss = server.rss_mb()
    peak = max(rss for _, rss in server.samples) / 2**20
    return {"tiles": n, "seconds": time.perf_counter() - start, "warm_rss_mb": warm_rss,
            "peak_rss_mb": peak, "end_rss_mb": server.rss_mb(), "quarters": quarters,
            "median_tile_ms": 1000 * statistics.median(times)}


def browser(width: int = 1400, height: int = 900):
    """A Playwright page in the system's headless Chromium (as tests/browser.py does)."""
    from contextlib import contextmanager

    from playwright.sync_api import sync_playwright

    @contextmanager
    def page():
        flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars"]
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
            try:
                yield chromium.new_page(viewport={"width": width, "height": height})
            finally:
                chromium.close()

    return page()


def wait(page, name: str, test: str, timeout_s: float = 300) -> str:
    key = "".join(w.title() if i else w for i, w in enumerate(name.split("-")))
    page.wait_for_function(f"(() => {{ const v = document.documentElement.dataset.{key}; "
                           f"return v !== undefined && ({test}); }})()", timeout=timeout_s * 1000)
    return page.evaluate(f"document.documentElement.dataset.{key}")


def settle(page, quiet_s: float = 1.0, timeout_s: float = 120) -> None:
    """Wait until no new tile has loaded for ``quiet_s``."""
    last, since, start = None, time.perf_counter(), time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        now = page.evaluate("document.documentElement.dataset.tilesLoaded")
        if now != last:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= quiet_s:
            return
        time.sleep(0.2)


def screenshots(page, url: str, stem: str) -> None:
    """The page with the overlay on, then off (the space bar)."""
    page.goto("about:blank")
    page.goto(url)
    wait(page, "viewer-ready", "v === 'true'")
    settle(page)
    page.screenshot(path=str(ARTIFACTS / f"{stem}-overlay-on.png"))
    page.keyboard.press("Space")
    wait(page, "overlay-visible", "v === 'false'")
    page.screenshot(path=str(ARTIFACTS / f"{stem}-overlay-off.png"))


def browser_pan(server: Server, page_url: str) -> dict[str, float]:
    with browser() as page:
        page.goto(page_url + "#at=0.12,0.3")
        wait(page, "viewer-ready", "v === 'true'")
        settle(page)
        server.samples.clear()
        before = server.rss_mb()
        for _ in range(40):  # drag the slide leftwards: the view moves right
            page.mouse.move(1100, 450)
            page.mouse.down()
            page.mouse.move(300, 450, steps=8)
            page.mouse.up()
            settle(page, quiet_s=0.5)
        loaded = int(page.evaluate("document.documentElement.dataset.tilesLoaded"))
        level = int(page.evaluate("document.documentElement.dataset.maxLevel"))
    peak = max(rss for _, rss in server.samples) / 2**20
    return {"tiles": loaded, "level": level, "before_mb": before, "peak_mb": peak}


def cmu1_scores(folder: Path, data: Path) -> tuple[Path, Path]:
    """CMU-1-Small-Region with a stand-in 'probability': each tile's darkness."""
    from featx.wsi import TileSpec, grid_coords, open_slide, read_tiles

    slide = data / "wsi" / "CMU-1-Small-Region.svs"
    scores = folder / "cmu1-scores"
    scores.mkdir(parents=True, exist_ok=True)
    with open_slide(slide) as opened:
        tiles = grid_coords(opened, TileSpec(tile_px=112, tile_mpp=1.0, min_tissue=0.5))
        darkness = 1 - read_tiles(opened, tiles).mean(axis=(1, 2, 3)) / 255
    tiles["prob"] = (darkness - darkness.min()) / (np.ptp(darkness) + 1e-9)
    tiles.to_parquet(scores / "tile_probabilities.parquet")
    return slide, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "bench-viewer")
    args = parser.parse_args()
    ARTIFACTS.mkdir(exist_ok=True)
    slides, scores = make_slide(args.folder)

    server = Server(str(slides), "--slidescores", str(scores))
    try:
        print(f"server up, RSS {server.rss_mb():.0f} MB", flush=True)
        result = http_pan(server)
        print("HTTP pan at full resolution: {tiles} tiles in {seconds:.0f} s, median "
              "{median_tile_ms:.0f} ms a tile; RSS after 200 tiles {warm_rss_mb:.0f} MB, at each "
              "quarter of the way {quarters} MB, peak {peak_rss_mb:.0f} MB, at the end "
              "{end_rss_mb:.0f} MB".format(**result), flush=True)
        page = f"{server.url}slide/BIG-100k"
        result = browser_pan(server, page)
        print("Chromium pan (40 drags at full resolution, DeepZoom level {level}, {tiles} tiles "
              "drawn): RSS before {before_mb:.0f} MB, peak {peak_mb:.0f} MB".format(**result),
              flush=True)
        with browser() as tab:
            screenshots(tab, page, "view-100k-overview")
            screenshots(tab, page + "#at=0.54,0.585", "view-100k-full-resolution")
    finally:
        server.close()

    from featx.data_folder import data_dir

    data = data_dir()
    if data is not None and (data / "wsi" / "CMU-1-Small-Region.svs").is_file():
        slide, cmu_scores = cmu1_scores(args.folder, data)
        server = Server(str(slide), "--slidescores", str(cmu_scores))
        try:
            with browser() as tab:
                screenshots(tab, f"{server.url}slide/CMU-1-Small-Region", "view-cmu1")
        finally:
            server.close()
    print("screenshots in", ARTIFACTS)


if __name__ == "__main__":
    main()
