"""Foundation models by name: every preset states its terms and feeds its model as it should."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.errors import InvalidParameterError
from featx.extractors.onnx_model import TOKENS
from featx.extractors.presets import PRESETS, get_preset

ISSUE_MODELS = ("UNI", "UNI2-h", "CONCH", "Virchow2", "H-optimus-0", "H-optimus-1",
                "Prov-GigaPath", "Phikon-v2", "Hibou-B", "Hibou-L", "Midnight-12k")


def test_every_preset_says_its_terms_and_where_they_come_from():
    assert set(ISSUE_MODELS) <= set(PRESETS)
    for preset in PRESETS.values():
        assert preset.licence and preset.gated and preset.commercial_use
        assert preset.source.startswith("https://huggingface.co/")
        assert len(preset.mean) == len(preset.std) == 3 and all(s > 0 for s in preset.std)
        assert preset.tokens in TOKENS and preset.prefix_tokens >= 1
        assert preset.config["licence"] == preset.licence and "timm" not in preset.config
        if preset.timm is not None:
            assert preset.timm["kwargs"]["num_classes"] == 0
    # What the model cards say, for the models people ask about most.
    assert get_preset("uni2-h").licence == "CC-BY-NC-ND 4.0"
    assert get_preset("Virchow2").commercial_use.startswith("no")
    assert get_preset("Midnight-12k").licence == "MIT"
    assert get_preset("Virchow2").tokens == "cls+mean" and get_preset("Virchow2").prefix_tokens == 5
    with pytest.raises(InvalidParameterError, match="UNI2-h"):
        get_preset("UNI3")


def test_a_preset_sets_normalisation_and_pooling_and_records_its_terms(tmp_path):
    pytest.importorskip("onnxruntime")
    from featx.extractors.onnx_model import OnnxExtractor
    from tests.extractors.test_onnx_model import W_TOK, token_net

    path = token_net(tmp_path)  # NHWC 16 px -> 256 tokens of 6
    with pytest.warns(UserWarning, match="Virchow2 2560"):
        ext = OnnxExtractor(path, preset="Virchow2", layout="NHWC", input_px=16)
    tiles = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    preset = get_preset("Virchow2")
    x = (tiles / 255 - np.array(preset.mean)) / np.array(preset.std)
    tokens = x.reshape(3, 256, 3) @ W_TOK
    expected = np.concatenate([tokens[:, 0], tokens[:, 5:].mean(axis=1)], axis=1)
    assert ext.name == "Virchow2" and ext.n_features == 12
    np.testing.assert_allclose(ext(tiles), expected, rtol=1e-4, atol=1e-4)
    config = ext.config
    assert config["preset"]["licence"] == "CC-BY-NC-ND 4.0" and config["tokens"] == "cls+mean"
    assert config["mean"] == list(preset.mean)


def test_featx_extractors_lists_the_presets_with_their_licences(tmp_path):
    result = CliRunner().invoke(app, ["extractors"])
    assert result.exit_code == 0
    for name in ISSUE_MODELS:
        line = next(row for row in result.output.splitlines() if row.strip().startswith(name))
        assert f"licence {PRESETS[name].licence}" in line and "commercial use:" in line
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\nslide.svs\n")
    bad = CliRunner().invoke(app, ["extract", str(manifest), "-o", str(tmp_path / "s"),
                                   "--preset", "UNI"])
    assert bad.exit_code == 2 and "onnx:FILE" in bad.output
