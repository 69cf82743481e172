"""featx.embed.formats: TRIDENT, CLAM and slideflow files read to the same features and level-0 tiles."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from featx.embed.formats import (
    detect_format,
    read_feature_table,
    read_foreign,
    read_h5,
    read_slideflow_bag,
    read_torch_tensor,
)
from featx.errors import DataError, DataNotFoundError, MissingExtraError
from tests.embed._foreign_files import (
    SIDE0,
    grid,
    write_clam,
    write_slideflow,
    write_torch_tensor,
    write_trident,
)

RNG = np.random.default_rng(7)
FEATURES = RNG.normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def test_torch_tensor_reads_without_pytorch_with_its_strides(tmp_path):
    assert "torch" not in sys.modules
    plain = read_torch_tensor(write_torch_tensor(tmp_path / "a.pt", FEATURES))
    strided = read_torch_tensor(write_torch_tensor(tmp_path / "b.pt", FEATURES, transposed=True))
    np.testing.assert_array_equal(plain, FEATURES)
    np.testing.assert_array_equal(strided, FEATURES)
    assert strided.dtype == np.float32 and strided.flags.c_contiguous


def test_torch_unpickler_runs_no_code_from_the_file(tmp_path):
    import pickle

    payload = pickle.dumps(print)  # any global other than the tensor rebuild is refused
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    with pytest.raises(DataError, match="builtins.print is not part of a plain tensor"):
        read_torch_tensor(tmp_path / "evil.pt")
    (tmp_path / "legacy.pt").write_bytes(b"\x80\x02not a zip")
    with pytest.raises(DataError, match="torch >= 1.6 zip format"):
        read_torch_tensor(tmp_path / "legacy.pt")


def test_three_tools_import_to_the_same_features_and_level0_tiles(tmp_path):
    trident = read_h5(write_trident(tmp_path / "S1.h5", FEATURES, COORDS), slide_mpp=0.25)
    clam = read_h5(write_clam(tmp_path / "S1c.h5",
                              FEATURES, COORDS), slide_id="S1", slide_mpp=0.25)
    bag = read_slideflow_bag(write_slideflow(tmp_path / "sf", "S1", FEATURES, COORDS),
                             slide_mpp=0.25)
    assert (trident.source_format, clam.source_format, bag.source_format) == (
        "trident", "clam", "slideflow")
    for slide in (trident, clam, bag):
        assert slide.slide_id == "S1"
        np.testing.assert_array_equal(slide.features, FEATURES)
        np.testing.assert_array_equal(slide.coords[["x", "y"]].to_numpy(), COORDS)
        assert slide.geometry["side_level0_px"] == SIDE0
        assert slide.geometry["tile_um"] == pytest.approx(128.0)
        np.testing.assert_allclose(slide.coords["tile_mpp"], 0.5)
        # neighbouring tiles are one grid step apart
        assert sorted(slide.coords["col"].unique()) == [2, 3, 4, 5]
    assert (trident.coords["level"].iloc[0], trident.coords["read_px"].iloc[0]) == (0, SIDE0)
    assert (clam.coords["level"].iloc[0], clam.coords["read_px"].iloc[0]) == (1, 256)
    assert trident.attributes["coords"]["target_magnification"] == 20
    assert clam.attributes["coords"]["downsample"] == [2.0, 2.0]
    assert bag.attributes["bags_config"]["tile_um"] == 128


def test_sizes_not_in_the_file_come_from_the_grid_or_the_arguments(tmp_path):
    bare = read_h5(write_clam(tmp_path / "S2.h5", FEATURES, COORDS, attrs=False))
    assert bare.geometry["side_from"] == "coordinate spacing"
    assert bare.geometry["side_level0_px"] == SIDE0 and bare.coords["tile_mpp"].isna().all()
    bag = read_slideflow_bag(write_slideflow(tmp_path / "sf", "S2", FEATURES, COORDS,
                                             config=False))
    np.testing.assert_array_equal(bag.coords[["x", "y"]].to_numpy(), COORDS)
    assert bag.geometry["side_from"] == "coordinate spacing"
    one = read_h5(write_clam(tmp_path / "S3.h5", FEATURES[:1], COORDS[:1], attrs=False),
                  patch_px=SIDE0)
    assert one.geometry["side_from"] == "argument"
    with pytest.raises(DataError, match="--patch-px"):
        read_h5(tmp_path / "S3.h5")


def test_tables_hold_many_slides(tmp_path):
    frame = pd.DataFrame(FEATURES, columns=[f"feat_{i}" for i in range(8)])
    frame.insert(0, "slide", ["A"] * 6 + ["B"] * 6)
    frame.insert(1, "x", COORDS[:, 0])
    frame.insert(2, "y", COORDS[:, 1])
    frame.to_csv(tmp_path / "t.csv", index=False)
    slides = read_feature_table(tmp_path / "t.csv", slide_column="slide")
    assert [s.slide_id for s in slides] == ["A", "B"]
    np.testing.assert_allclose(np.concatenate([s.features for s in slides]), FEATURES, rtol=1e-6)
    np.testing.assert_array_equal(slides[1].coords["x"], COORDS[6:, 0])
    slide_level = frame.drop(columns=["x", "y"]).groupby("slide").mean().reset_index()
    slide_level.to_parquet(tmp_path / "slides.parquet")
    rows = read_feature_table(tmp_path / "slides.parquet", slide_column="slide",
                              feature_prefix="feat_")
    assert [len(s.coords) for s in rows] == [1, 1] and rows[0].coords["x"].iloc[0] == -1
    with pytest.raises(DataError, match="no slide column 'slide_id'"):
        read_feature_table(tmp_path / "t.csv")


def test_formats_are_detected_and_bad_files_named(tmp_path):
    assert detect_format(write_trident(tmp_path / "a.h5", FEATURES, COORDS)) == "trident"
    assert detect_format(write_clam(tmp_path / "b.h5", FEATURES, COORDS)) == "clam"
    assert detect_format(tmp_path / "c.pt") == "slideflow"
    with pytest.raises(DataNotFoundError, match="index.npz"):
        read_foreign(write_torch_tensor(tmp_path / "c.pt", FEATURES))
    import h5py

    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle.create_dataset("feats", data=FEATURES)
    with pytest.raises(DataError, match="no 'features' and 'coords' datasets"):
        read_foreign(tmp_path / "d.h5")
    with pytest.raises(DataError, match=r"coords of shape \(11, 2\) for 12"):
        read_foreign(write_trident(tmp_path / "e.h5", FEATURES, COORDS[:11]))


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    path = write_trident(tmp_path / "a.h5", FEATURES, COORDS)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'featx\[import\]'"):
        read_h5(path)
