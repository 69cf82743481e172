"""Pooling: slide and patient means equal the means of their tiles, read slide by slide."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featx.embed.pooling import feature_columns, pool_embeddings, pooled_matrix
from featx.embed.store import write_slide_embeddings
from featx.errors import DataNotFoundError, InvalidParameterError


def _coords(n):
    return pd.DataFrame({"col": np.arange(n), "row": 0, "x": np.arange(n) * 100, "y": 0,
                         "level": 0, "read_px": 224, "tile_px": 224, "tile_mpp": 0.5,
                         "tissue_fraction": 1.0})


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    slides = {  # slide -> (patient, n_tiles)
        "TCGA-AA-0001-01Z-00-DX1": ("TCGA-AA-0001", 5),
        "TCGA-AA-0001-01Z-00-DX2": ("TCGA-AA-0001", 15),
        "TCGA-AA-0002-01Z-00-DX1": ("TCGA-AA-0002", 7),
        "other": ("other", 3),
    }
    feats = {}
    for slide, (_, n) in slides.items():
        feats[slide] = rng.normal(size=(n, 4)).astype(np.float32)
        write_slide_embeddings(tmp_path, _coords(n), feats[slide], extractor="X", slide_id=slide)
    write_slide_embeddings(tmp_path, _coords(0), np.zeros((0, 4)), extractor="X",
                           slide_id="TCGA-AA-0003-01Z-00-DX1")
    return tmp_path, slides, feats


def test_slide_means(store):
    root, slides, feats = store
    table = pool_embeddings(root, extractor="X", level="slide")
    assert table["slide_id"].tolist() == sorted(slides)  # the empty slide is left out
    assert list(table.columns[:3]) == ["slide_id", "patient_id", "n_tiles"]
    assert list(table.columns[3:]) == feature_columns(4) == ["f0000", "f0001", "f0002", "f0003"]
    for row, slide in enumerate(table["slide_id"]):
        np.testing.assert_allclose(pooled_matrix(table)[row], feats[slide].mean(0), rtol=1e-6)
        assert table.loc[row, "n_tiles"] == slides[slide][1]


def test_patient_mean_weights_every_tile_equally(store):
    root, _, feats = store
    table = pool_embeddings(root, extractor="X").set_index("patient_id")
    tiles = np.concatenate([feats["TCGA-AA-0001-01Z-00-DX1"], feats["TCGA-AA-0001-01Z-00-DX2"]])
    got = pooled_matrix(table.reset_index())[list(table.index).index("TCGA-AA-0001")]
    np.testing.assert_allclose(got, tiles.mean(0), rtol=1e-6)
    # Not the mean of the two slide means (5 vs 15 tiles).
    slide_means = (feats["TCGA-AA-0001-01Z-00-DX1"].mean(0) +
                   feats["TCGA-AA-0001-01Z-00-DX2"].mean(0)) / 2
    assert not np.allclose(got, slide_means)
    assert table.loc["TCGA-AA-0001", "n_slides"] == 2
    assert table.loc["TCGA-AA-0001", "n_tiles"] == 20
    assert list(table.index) == sorted(table.index)
    assert np.isfinite(pooled_matrix(table.reset_index())).all()


def test_subset_and_errors(store):
    root, _, feats = store
    table = pool_embeddings(root, extractor="X", level="slide", slide_ids=["other"])
    np.testing.assert_allclose(pooled_matrix(table)[0], feats["other"].mean(0), rtol=1e-6)
    with pytest.raises(DataNotFoundError):
        pool_embeddings(root, extractor="X", slide_ids=["absent"])
    with pytest.raises(DataNotFoundError, match="no tissue"):
        pool_embeddings(root, extractor="X", slide_ids=["TCGA-AA-0003-01Z-00-DX1"])
    with pytest.raises(DataNotFoundError):
        pool_embeddings(root, extractor="Y")
    with pytest.raises(InvalidParameterError, match="level"):
        pool_embeddings(root, extractor="X", level="tile")


def test_cli_pool(store, tmp_path):
    from typer.testing import CliRunner

    from featx.cli._app import app

    root, _, feats = store
    out = tmp_path / "patients.parquet"
    result = CliRunner().invoke(app, ["pool", str(root), "--extractor", "X", "-o", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 patients x 4 features" in result.output
    table = pd.read_parquet(out).set_index("patient_id")
    np.testing.assert_allclose(table.loc["other", ["f0000", "f0001", "f0002", "f0003"]],
                               feats["other"].mean(0), rtol=1e-6)
    csv = tmp_path / "slides.csv"
    result = CliRunner().invoke(app, ["pool", str(root), "--extractor", "X", "-o", str(csv),
                                      "--level", "slide", "--no-progress"])
    assert result.exit_code == 0 and len(pd.read_csv(csv)) == 4


def test_a_truncated_or_foreign_file_is_skipped_and_the_rest_pooled(store, tmp_path):
    from typer.testing import CliRunner

    from featx.cli._app import app

    root, _, feats = store
    folder = root / "extractor=X"
    good = folder / "TCGA-AA-0002-01Z-00-DX1.parquet"
    data = good.read_bytes()
    (folder / "cut.parquet").write_bytes(data[: len(data) // 2])
    pd.DataFrame({"a": [1, 2]}).to_parquet(folder / "foreign.parquet")
    with pytest.warns(UserWarning, match="2 slide file"):
        table = pool_embeddings(root, extractor="X", level="slide")
    assert sorted(table.attrs["skipped"]) == ["cut", "foreign"]
    assert "truncated" in table.attrs["skipped"]["cut"]
    assert "did not write" in table.attrs["skipped"]["foreign"]
    assert len(table) == 4  # the four good slides with tiles
    np.testing.assert_allclose(pooled_matrix(table.set_index("slide_id").loc[["other"]]
                                             .reset_index())[0], feats["other"].mean(0),
                               rtol=1e-6)
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(app, ["pool", str(root), "--extractor", "X", "-o", str(out),
                                      "--no-progress"])
    assert result.exit_code == 1 and out.is_file()
    assert "cut.parquet" in result.output and "Traceback" not in result.output
