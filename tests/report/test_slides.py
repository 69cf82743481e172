"""Report slide sections: a slide file that cannot be read never stops the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from featx.report.slides import slidescore_section
from featx.slidescore import score_slides
from featx.wsi.synthetic import write_synthetic_slide


def test_an_unreadable_slide_gets_its_grid_heatmap_and_the_reason(tmp_path):
    good = write_synthetic_slide(tmp_path / "good.svs", width_px=512, height_px=512, mpp=2.0,
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
