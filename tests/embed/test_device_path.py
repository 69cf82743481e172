"""The device path of embed_slide (stain apply + resize + model in one graph) equals the CPU path.

Run here on the CPU with TensorFlow: the same graph a GPU runs, so what it computes
is checked; how fast it is on a GPU is for ``benchmarks/bench_extract.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from featx.embed.pipeline import embed_slide
from featx.errors import InvalidParameterError
from featx.extractors import ColorStatsExtractor
from featx.stain.macenko import MacenkoNormalizer
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import Region, write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles

pytestmark = pytest.mark.tensorflow
SPEC = TileSpec(tile_px=64, tile_mpp=1.0, min_tissue=0.3)


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A synthetic slide with tissue and glass, and a stain target from its tiles."""
    path = tmp_path_factory.mktemp("slide") / "synthetic.svs"
    write_synthetic_slide(
        path, width_px=1400, height_px=1000, slide_mpp=0.5, seed=3,
        regions=[Region(x=100, y=100, width=600, height=700, shape="ellipse", label="normal"),
                 Region(x=800, y=200, width=450, height=600, shape="rect", label="tumour")])
    with open_slide(path) as opened:
        tiles = read_tiles(opened, grid_coords(opened, SPEC).iloc[:6])
    return path, tiles


@pytest.fixture(scope="module")
def xception() -> object:
    from featx.extractors.xception import ImagenetXception

    return ImagenetXception(weights="random", input_px=71, batch_size=8)


@pytest.mark.parametrize("mode", ["per_slide", "per_tile"])
def test_device_path_equals_cpu_path(slide: tuple, xception: object, mode: str) -> None:
    """Per slide: Macenko on the device; per tile: Macenko on the CPU, resize on the device."""
    path, target = slide
    normalizer = MacenkoNormalizer(mode=mode).fit(target)
    runs = {where: embed_slide(path, xception, spec=SPEC, normalizer=normalizer, batch_size=12,
                               preprocess=where) for where in ("cpu", "device")}
    cpu, device = runs["cpu"], runs["device"]
    assert len(cpu) > 12 and len(cpu) % 8  # more than a batch, and a padded last one
    assert device.provenance["preprocess"] == "device"
    assert cpu.provenance["preprocess"] == "cpu"
    assert device.provenance["stain"] == cpu.provenance["stain"]
    assert device.coords.equals(cpu.coords)  # the same tiles, the same statuses
    assert set(cpu.coords["stain_status"]) >= {"ok"}
    # One grey level on a few pixels in a million moves features by far less than this.
    np.testing.assert_allclose(device.features, cpu.features, rtol=1e-3, atol=1e-4)


def test_device_path_without_normaliser(slide: tuple, xception: object) -> None:
    path, _ = slide
    cpu = embed_slide(path, xception, spec=SPEC, batch_size=8, preprocess="cpu")
    device = embed_slide(path, xception, spec=SPEC, batch_size=8, preprocess="device")
    assert (device.coords["stain_status"] == "not_normalized").all()
    np.testing.assert_allclose(device.features, cpu.features, rtol=1e-4, atol=1e-5)


def test_auto_keeps_the_numpy_path_without_a_gpu(slide: tuple, xception: object) -> None:
    import tensorflow as tf

    path, _ = slide
    result = embed_slide(path, xception, spec=SPEC, coords=None, batch_size=8)
    expected = "device" if tf.config.list_physical_devices("GPU") else "cpu"
    assert result.provenance["preprocess"] == expected


def test_device_needs_an_extractor_that_can(slide: tuple) -> None:
    path, _ = slide
    with pytest.raises(InvalidParameterError, match="embed_on_device"):
        embed_slide(path, ColorStatsExtractor(), spec=SPEC, preprocess="device")
    with pytest.raises(InvalidParameterError, match="preprocess"):
        embed_slide(path, ColorStatsExtractor(), spec=SPEC, preprocess="gpu")
    # auto with an extractor that cannot: the CPU path, no error
    assert embed_slide(path, ColorStatsExtractor(), spec=SPEC).provenance["preprocess"] == "cpu"


def test_xla_compiled_device_graph_equals_plain(slide: tuple) -> None:
    """jit_compile=True (XLA) gives the same features as the plain graph (small model)."""
    import keras

    from featx.extractors.keras_model import KerasExtractor
    from featx.stain.device import DeviceMacenko

    _, target = slide
    inputs = keras.Input((32, 32, 3))
    conv = keras.layers.Conv2D(8, 3, name="conv", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(conv))
    norm = MacenkoNormalizer(mode="per_slide").fit(target).fit_source(target)
    step = DeviceMacenko.from_normalizer(norm)
    plain = KerasExtractor(model, preprocess="unit", batch_size=4)
    jit = KerasExtractor(model, preprocess="unit", batch_size=4, jit_compile=True)
    a, counts_a = plain.embed_on_device(target, step)
    b, counts_b = jit.embed_on_device(target, step)
    np.testing.assert_array_equal(counts_a, counts_b)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    expected = plain(norm.transform(target))  # the CPU path on the NumPy-normalised tiles
    np.testing.assert_allclose(a, expected, rtol=1e-3, atol=1e-4)


def test_cli_extract_preprocess_reaches_the_pipeline(slide: tuple, tmp_path: Path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from featx.cli._app import app
    from featx.embed.store import provenance

    path, _ = slide
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": [str(path)]}).to_csv(manifest, index=False)
    base = ["extract", str(manifest), "--extractor", "IMGNET-2048", "--extractor-arg",
            "weights=random", "--extractor-arg", "input_px=71", "--tile-px", "64",
            "--tile-mpp", "4.0", "--min-tissue", "0.5", "--workers", "0", "--no-progress"]
    for where in ("cpu", "device"):
        out = tmp_path / where
        result = CliRunner().invoke(app, [*base, "--out", str(out), "--preprocess", where])
        assert result.exit_code == 0, result.output
        (stored,) = out.rglob("*.parquet")
        assert provenance(stored)["pipeline"]["preprocess"] == where
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "x"), "--preprocess", "gpu"])
    assert result.exit_code != 0 and "--preprocess" in result.output
