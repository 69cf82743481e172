"""featx.embed.formats.foreign_slide: every tool's file gives the same features and level-0 tiles."""

from __future__ import annotations

import numpy as np
import pytest

from featx.embed.formats.foreign_slide import IMPORTED_STAIN, grid_spacing
from featx.embed.formats.h5 import read_h5
from featx.embed.formats.slideflow import read_slideflow_bag
from featx.errors import DataError
from tests.embed.formats._foreign_files import SIDE0, grid, write_clam, write_slideflow, write_trident

FEATURES = np.random.default_rng(7).normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def test_grid_spacing_is_the_smallest_step_between_distinct_values():
    assert grid_spacing(np.array([1024, 1536, 1024, 2560])) == 512
    assert grid_spacing(np.array([7, 7])) is None


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
        assert set(slide.coords["stain_status"]) == {IMPORTED_STAIN}
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
