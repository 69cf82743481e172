"""One way to count a store: slides (with their status) or a tile set's tiles, chunks and classes."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from featx.cli._app import app
from featx.embed import ClusterSettings, ExtractionSettings, run_batch
from featx.embed.inventory import store_contents
from featx.embed.tile_sets import embed_tile_folder
from featx.wsi.synthetic import write_synthetic_slide
from tests.embed.test_tile_sets import MeanColour, make_tiles

runner = CliRunner()


def test_a_tile_set_counts_tiles_chunks_and_classes_never_slides(tmp_path):
    make_tiles(tmp_path / "tiles", per_class=20)  # 3 classes x 20 tiles
    embed_tile_folder(tmp_path / "tiles", tmp_path / "store", extractor=MeanColour(),
                      chunk_size=10)
    contents = store_contents(tmp_path / "store", "MEAN-RGB")
    assert (contents.kind, contents.tiles, contents.files, contents.slides) == (
        "tile set", 60, 6, 0)
    assert contents.classes == {"ADI": 20, "LYM": 20, "TUM": 20}
    assert contents.describe() == "tile set: 60 tiles in 6 chunk files, 3 classes"
    status = runner.invoke(app, ["status", str(tmp_path / "store")])
    listed = runner.invoke(app, ["extractors", "--store", str(tmp_path / "store")])
    assert status.exit_code == 0, status.output
    assert "MEAN-RGB: tile set: 60 tiles in 6 chunk files, 3 classes" in status.output
    assert "tile set: 60 tiles in 6 chunk files, 3 classes" in listed.output
    assert status.output == "MEAN-RGB: tile set: 60 tiles in 6 chunk files, 3 classes\n"


def test_a_slide_store_counts_every_slide_of_its_status_and_the_tiles_stored(tmp_path):
    slide = write_synthetic_slide(tmp_path / "S1.svs", width_px=1024, height_px=768,
                                  slide_mpp=0.5).path
    manifest = pd.DataFrame({"path": [str(slide), str(tmp_path / "gone.svs")]})
    run_batch(manifest, tmp_path / "store", ExtractionSettings("COLORSTATS"),
              cluster=ClusterSettings(workers=0))
    contents = store_contents(tmp_path / "store", "COLORSTATS")
    stored = int(contents.status.loc[contents.status["status"] == "done", "n_tiles"].sum())
    assert (contents.kind, contents.slides, contents.files) == ("slides", 2, 1)
    assert contents.tiles == stored > 0
    assert contents.describe() == f"2 slides: 1 done, 1 missing; {stored:,} tiles"
    # Without its status file (imported, or an older store) the files are the slides.
    (tmp_path / "store" / "extractor=COLORSTATS" / "_status.csv").unlink()
    bare = store_contents(tmp_path / "store", "COLORSTATS")
    assert bare.slides == 1 and bare.describe().startswith("1 slide: 1 stored (no status file")
