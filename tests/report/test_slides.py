"""The slide-score section: verdict, heatmaps with their scale, top tiles, viewer links, and
slide files that cannot be read (which never stop the report)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from featx.report.slides import slidescore_section
from featx.slidescore import score_slides
from featx.wsi import TileSpec, grid_coords, open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide


def test_section_shows_scales_top_tiles_and_links_a_viewer_per_slide(tmp_path):
    spec = TileSpec(tile_px=128, tile_mpp=1.0, min_tissue=0.5)
    paths, parts = {}, []
    for i in range(4):
        regions = [Region(64, 64, 900, 640)]
        if i % 2 == 0:
            regions.append(Region(400, 300, 400, 300, "ellipse", "tumour"))
        paths[f"S{i}"] = write_synthetic_slide(tmp_path / f"S{i}.svs", width_px=1024,
                                               height_px=768, slide_mpp=0.5, regions=regions,
                                               seed=i).path
        with open_slide(paths[f"S{i}"]) as slide:
            tiles = grid_coords(slide, spec)
        # Tumour slides get one hot corner: the top tiles must come from there.
        hot = (tiles["col"] >= tiles["col"].max() - 1) if i % 2 == 0 else np.zeros(len(tiles), bool)
        parts.append(tiles.assign(slide_id=f"S{i}", prob=np.where(hot, 0.95, 0.05)))
    table = pd.concat(parts, ignore_index=True)
    out = tmp_path / "scores"
    labels = pd.Series({f"S{i}": int(i % 2 == 0) for i in range(4)})
    score_slides(table, out, labels=labels, k=2, forest=False)
    table.to_parquet(out / "tile_probabilities.parquet")

    section = slidescore_section(out, slides=paths)
    assert section.verdict is not None and "ROC AUC 1.000" in section.verdict.headline
    assert "4 slides" in dict(section.verdict.facts)["n"]
    heatmaps = [f for f in section.figures if f.name.startswith("heatmap-")]
    assert heatmaps and all(f.colour_bar for f in heatmaps)
    assert any(f.name == "top-tiles" for f in section.figures)
    links = [href for _, href in section.links]  # highest scores first: tumour slides lead
    assert sorted(links[:2]) == ["viewer-S0.html", "viewer-S2.html"] and len(links) == 4
    assert {f"viewer-S{i}.html" for i in range(4)} <= set(section.files)
    metrics = next(t for t in section.tables if t.name == "slide-metrics")
    assert "roc auc" in metrics.display.columns and "kappa_at_0.5" in metrics.frame.columns


def test_an_unreadable_slide_gets_its_grid_heatmap_and_the_reason(tmp_path):
    good = write_synthetic_slide(tmp_path / "good.svs", width_px=512, height_px=512, slide_mpp=2.0,
                                 downsamples=(1,)).path
    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"")
    tiles = pd.DataFrame({"slide_id": np.repeat(["good", "broken"], 4),
                          "row": np.tile([0, 0, 1, 1], 2), "col": np.tile([0, 1, 0, 1], 2),
                          "x": np.tile([0, 128, 0, 128], 2), "y": np.tile([0, 0, 128, 128], 2),
                          "level": 0, "read_px": 128, "prob": np.linspace(0, 1, 8)})
    score_slides(tiles, tmp_path / "scores", k=2)
    section = slidescore_section(tmp_path / "scores", slides={"good": good, "broken": broken})
    captions = {f.name: f.caption for f in section.figures}
    assert "over the thumbnail" in captions["heatmap-good"]
    assert "on the tile grid (slide file unreadable: the file is empty" in captions[
        "heatmap-broken"]
