"""``featx convert``: a timm model into ONNX that agrees with torch on real tiles, or nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from featx._io import read_rgb
from featx.errors import ExtractionError, InvalidParameterError

torch = pytest.importorskip("torch", reason="torch is not installed (pip install featx[convert])")
pytest.importorskip("timm", reason="timm is not installed (pip install featx[convert])")
pytest.importorskip("onnxruntime", reason="onnxruntime runs the converted model")

from featx.extractors.convert import convert_timm  # noqa: E402
from featx.extractors.onnx_model import OnnxExtractor  # noqa: E402


@pytest.fixture(scope="module")
def tiles(shared_data):
    """The 24 real Kather 2016 tiles (150 px)."""
    files = sorted((shared_data / "tiles" / "kather2016_samples").rglob("*.tif"))
    return np.stack([read_rgb(p) for p in files])


@pytest.mark.slow
def test_a_small_timm_model_converts_and_agrees_with_torch(tiles, tmp_path):
    done = convert_timm(tmp_path / "tiny.onnx", tiles, architecture="vit_tiny_patch16_224",
                        random_weights=True)
    assert done.n_tiles == 24 and done.n_features == 192
    assert done.min_cosine >= 0.9999
    record = json.loads(done.record_path.read_text())
    assert record["architecture"] == "vit_tiny_patch16_224" and record["random_weights"]
    assert record["check"]["min_cosine"] == pytest.approx(done.min_cosine)
    print(f"\nfeatx convert vit_tiny_patch16_224 (random weights): cosine min "
          f"{done.min_cosine:.8f}, mean {done.mean_cosine:.8f} over {done.n_tiles} Kather tiles")
    # The file runs in featx as any ONNX extractor, giving the embedding itself.
    extractor = OnnxExtractor(done.path)
    assert extractor.input_px == 224 and extractor(tiles[:2]).shape == (2, 192)


@pytest.mark.slow
def test_a_disagreeing_export_writes_nothing(tiles, tmp_path):
    with pytest.raises(ExtractionError, match="cosine"):
        convert_timm(tmp_path / "x.onnx", tiles[:4], architecture="vit_tiny_patch16_224",
                     random_weights=True, min_cosine=1.5)  # no export can reach this
    assert not list(tmp_path.iterdir())


def test_the_model_and_its_weights_must_be_named(tiles, tmp_path):
    with pytest.raises(InvalidParameterError, match="preset or a timm architecture"):
        convert_timm(tmp_path / "x.onnx", tiles, random_weights=True)
    with pytest.raises(InvalidParameterError, match="weights file"):
        convert_timm(tmp_path / "x.onnx", tiles, architecture="vit_tiny_patch16_224")
    with pytest.raises(InvalidParameterError, match="not a timm model|is not"):
        convert_timm(tmp_path / "x.onnx", tiles, preset="CONCH", random_weights=True)
