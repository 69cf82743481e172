"""embed_slide: synthetic slide -> tiles -> (normaliser) -> features, streamed and bounded."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from featx.embed.pipeline import NOT_NORMALIZED, ExtractionError, SlideEmbeddings, embed_slide
from featx.extractors import ColorStatsExtractor
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles

SPEC = TileSpec(tile_px=64, tile_mpp=1.0, min_tissue=0.5)


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slide") / "synthetic.svs"
    write_synthetic_slide(
        path, width_px=1600, height_px=1200, slide_mpp=0.5, seed=0,
        regions=[Region(x=150, y=150, width=700, height=800, shape="ellipse", label="normal"),
                 Region(x=900, y=250, width=550, height=700, shape="rect", label="tumour")],
    )
    return path


@pytest.fixture(scope="module")
def reference(slide_path: Path) -> tuple[object, np.ndarray]:
    """The grid table and its tiles read directly, without the pipeline."""
    with open_slide(slide_path) as slide:
        coords = grid_coords(slide, SPEC)
        return coords, read_tiles(slide, coords)


def test_features_match_direct_extraction(slide_path: Path, reference: tuple) -> None:
    coords, tiles = reference
    ext = ColorStatsExtractor(input_px=64)
    result = embed_slide(slide_path, ext, spec=SPEC, batch_size=7)
    assert isinstance(result, SlideEmbeddings) and len(result) == len(coords) > 20
    assert result.features.dtype == np.float32
    assert result.features.shape == (len(coords), ext.n_features)
    np.testing.assert_array_equal(result.features, ext(tiles))
    assert result.coords.drop(columns="stain_status").equals(coords)
    assert (result.coords["stain_status"] == NOT_NORMALIZED).all()
    prov = json.loads(json.dumps(result.provenance))  # JSON-serialisable
    assert prov["extractor"] == ext.config and prov["tile_spec"] == SPEC.config
    assert prov["stain"] is None and prov["featx_version"] and prov["n_tiles"] == len(coords)
    assert result.slide_id == "synthetic"


def test_sequential_and_prefetched_runs_agree(slide_path: Path) -> None:
    ext = ColorStatsExtractor()
    with open_slide(slide_path) as slide:  # an open slide is used and left open
        a = embed_slide(slide, ext, spec=SPEC, batch_size=5, prefetch_batches=0)
        b = embed_slide(slide, ext, spec=SPEC, batch_size=5, prefetch_batches=3, num_workers=1)
        assert slide.read_region(0, 0, 0, 4, 4).shape == (4, 4, 3)
    np.testing.assert_array_equal(a.features, b.features)


class InvertWithStatus:
    """A normaliser with a known answer: inverts colours, flags pale tiles."""

    config = {"name": "invert"}

    def transform_with_status(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        status = np.where(tiles.mean(axis=(1, 2, 3)) > 200, "faint", "ok")
        return 255 - tiles, status


def test_normaliser_output_and_status_reach_the_features(slide_path: Path,
                                                         reference: tuple) -> None:
    coords, tiles = reference
    ext = ColorStatsExtractor()
    result = embed_slide(slide_path, ext, spec=SPEC, normalizer=InvertWithStatus(), batch_size=8)
    np.testing.assert_array_equal(result.features, ext(255 - tiles))
    expected = np.where(tiles.mean(axis=(1, 2, 3)) > 200, "faint", "ok")
    assert list(result.coords["stain_status"]) == list(expected)
    assert result.provenance["stain"] == {"name": "invert"}
    # A plain callable works too; its tiles count as normalised.
    plain = embed_slide(slide_path, ext, spec=SPEC, normalizer=lambda t: 255 - t)
    np.testing.assert_array_equal(plain.features, result.features)
    assert (plain.coords["stain_status"] == "ok").all()


def test_memory_is_bounded_by_the_prefetch_queue(slide_path: Path) -> None:
    """The producers never run more than prefetch + 1 batches ahead of the model."""
    produced, consumed, ahead = [0], [0], []

    def counting(tiles: np.ndarray) -> np.ndarray:
        produced[0] += 1
        return tiles

    class SlowExtractor(ColorStatsExtractor):
        def __call__(self, tiles: np.ndarray) -> np.ndarray:
            time.sleep(0.02)  # a model slower than reading
            ahead.append(produced[0] - consumed[0])
            consumed[0] += 1
            return super().__call__(tiles)

    embed_slide(slide_path, SlowExtractor(), spec=SPEC, normalizer=counting, batch_size=2,
                prefetch_batches=2)
    assert consumed[0] > 10 and max(ahead) <= 2 + 1


def test_errors_propagate_and_threads_end(slide_path: Path) -> None:
    def broken(tiles: np.ndarray) -> np.ndarray:
        raise RuntimeError("stain fit failed")

    with pytest.raises(RuntimeError, match="stain fit failed"):
        embed_slide(slide_path, ColorStatsExtractor(), spec=SPEC, normalizer=broken)

    class NaNExtractor(ColorStatsExtractor):
        def __call__(self, tiles: np.ndarray) -> np.ndarray:
            out = super().__call__(tiles)
            out[0, 0] = np.nan
            return out

    with pytest.raises(ExtractionError, match="finite"):
        embed_slide(slide_path, NaNExtractor(), spec=SPEC, batch_size=3)
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name.startswith("featx-tile-producer")]


def test_slide_without_tissue_gives_empty_embeddings(slide_path: Path) -> None:
    ext = ColorStatsExtractor()
    with open_slide(slide_path) as slide:
        empty = grid_coords(slide, SPEC).iloc[:0]
        result = embed_slide(slide, ext, spec=SPEC, coords=empty)
    assert result.features.shape == (0, ext.n_features)
    assert "stain_status" in result.coords.columns and len(result.coords) == 0


def test_bad_arguments(slide_path: Path) -> None:
    from featx.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="extractor"):
        embed_slide(slide_path, object(), spec=SPEC)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="spec"):
        embed_slide(slide_path, ColorStatsExtractor(), spec={"tile_px": 64})  # type: ignore
    with pytest.raises(InvalidParameterError, match="prefetch_batches"):
        embed_slide(slide_path, ColorStatsExtractor(), spec=SPEC, prefetch_batches=-1)


@pytest.mark.tensorflow
def test_xception_through_the_pipeline(slide_path: Path, reference: tuple) -> None:
    """Random-weight Xception at 71 px: the producer's resize equals the extractor's own."""
    from featx.extractors.xception import ImagenetXception

    coords, tiles = reference
    ext = ImagenetXception(weights="random", input_px=71, batch_size=8)
    subset = coords.iloc[:10]
    result = embed_slide(slide_path, ext, spec=SPEC, coords=subset, batch_size=4)
    assert result.features.shape == (10, 2048) and result.features.dtype == np.float32
    np.testing.assert_allclose(result.features, ext(tiles[:10]), rtol=1e-4, atol=1e-6)
    assert result.provenance["extractor"]["name"] == "RANDOM-XCEPTION-2048"


def test_real_macenko_normaliser_sets_stain_status(slide_path: Path, reference: tuple) -> None:
    from featx import stain

    coords, tiles = reference
    normalizer = stain.MacenkoNormalizer().fit(tiles[:4])
    ext = ColorStatsExtractor()
    result = embed_slide(slide_path, ext, spec=SPEC, normalizer=normalizer, batch_size=8)
    expected, status = normalizer.transform_with_status(tiles)
    np.testing.assert_array_equal(result.features, ext(expected))
    assert list(result.coords["stain_status"]) == list(status)
    assert (result.coords["stain_status"] == "ok").mean() > 0.9  # tissue tiles
    assert result.provenance["stain"] == json.loads(json.dumps(normalizer.config))


def test_per_slide_normaliser_is_fitted_to_each_slide(slide_path: Path, reference: tuple) -> None:
    from featx.embed.pipeline import SOURCE_SAMPLE_TILES
    from featx.stain.macenko import MacenkoNormalizer

    coords, tiles = reference
    shared = MacenkoNormalizer(mode="per_slide").fit(tiles[:4])
    result = embed_slide(slide_path, ColorStatsExtractor(), spec=SPEC, normalizer=shared,
                         batch_size=8)
    assert not hasattr(shared, "stain_matrix_source_")  # the caller's copy stays slide-free
    picks = np.unique(np.linspace(0, len(tiles) - 1, min(SOURCE_SAMPLE_TILES, len(tiles))
                                  ).round().astype(int))
    expected = MacenkoNormalizer(mode="per_slide").fit(tiles[:4]).fit_source(tiles[picks])
    np.testing.assert_array_equal(result.features, ColorStatsExtractor()(expected.transform(tiles)))
    assert result.provenance["stain"]["stain_matrix_source"] == expected.config["stain_matrix_source"]


def test_the_stain_sample_is_read_once(slide_path: Path, reference: tuple, monkeypatch) -> None:
    # The tiles read to fit a slide's stains are reused by the stream, not read again.
    from featx.embed import pipeline
    from featx.stain.macenko import MacenkoNormalizer

    coords, tiles = reference
    counted: list[int] = []

    def counting(slide, rows, **kwargs):
        counted.append(len(rows))
        return read_tiles(slide, rows, **kwargs)

    monkeypatch.setattr(pipeline, "read_tiles", counting)
    shared = MacenkoNormalizer(mode="per_slide").fit(tiles[:4])
    alone = MacenkoNormalizer(mode="per_slide").fit(tiles[:4])
    for prefetch in (0, None):
        counted.clear()
        result = embed_slide(slide_path, ColorStatsExtractor(), spec=SPEC, normalizer=shared,
                             batch_size=7, prefetch_batches=prefetch)
        assert sum(counted) == len(tiles)  # every tile read exactly once
        fitted = alone.fit_source(tiles[np.unique(np.linspace(0, len(tiles) - 1, 32).round()
                                                  .astype(int))])
        np.testing.assert_array_equal(result.features,
                                      ColorStatsExtractor()(fitted.transform(tiles)))


@pytest.mark.tensorflow
@pytest.mark.realdata
def test_cli_extract_with_imagenet_xception(slide_path: Path, shared_data: Path,
                                            tmp_path: Path) -> None:
    """`featx extract --extractor IMGNET-2048 --weights FILE` runs embed_slide for real."""
    import pandas as pd
    from typer.testing import CliRunner

    from featx._io import file_sha256
    from featx.cli._app import app
    from featx.embed.store import provenance, read_store
    from featx.embed.store import slide_path as store_path

    weights = shared_data / "models" / "xception_imagenet_notop.weights.h5"
    if not weights.is_file():
        pytest.skip(f"{weights} absent")
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": [str(slide_path)]}).to_csv(manifest, index=False)
    out = tmp_path / "store"
    result = CliRunner().invoke(app, [
        "extract", str(manifest), "--out", str(out), "--extractor", "IMGNET-2048",
        "--weights", str(weights), "--extractor-arg", "input_px=71", "--tile-px", "64",
        "--tile-mpp", "4.0", "--min-tissue", "0.5", "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    emb = read_store(out, extractor="IMGNET-2048", as_="numpy")
    assert emb.shape[1] == 2048 and len(emb) > 0 and np.isfinite(emb).all()
    prov = provenance(store_path(out, extractor="IMGNET-2048", slide_id="synthetic"))
    assert prov["pipeline"]["extractor"]["weights_sha256"] == file_sha256(weights)


def test_cli_extract_weights_only_for_imagenet(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from featx.cli._app import app

    manifest, weights = tmp_path / "m.csv", tmp_path / "w.weights.h5"
    manifest.write_text("path\nx.svs\n")
    weights.write_bytes(b"w")
    result = CliRunner().invoke(app, ["extract", str(manifest), "--out", str(tmp_path / "s"),
                                      "--extractor", "COLORSTATS", "--weights", str(weights)])
    assert result.exit_code == 2 and "IMGNET-2048" in result.output
