"""featx.embed.formats.slideflow: a bag's tile centres become level-0 corners; what is missing is named."""

from __future__ import annotations

import numpy as np
import pytest

from featx.embed.formats.slideflow import read_slideflow_bag
from featx.errors import DataError, DataNotFoundError
from tests.embed.formats._foreign_files import SIDE0, grid, write_slideflow, write_torch_tensor

FEATURES = np.random.default_rng(7).normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def test_tile_size_from_tile_um_and_slide_mpp(tmp_path):
    path = write_slideflow(tmp_path / "sf", "S1", FEATURES, COORDS, config=False)
    bag = read_slideflow_bag(path, slide_mpp=0.25, tile_um=128.0)
    assert bag.geometry["side_from"] == "tile_um / slide_mpp"
    assert bag.geometry["side_level0_px"] == SIDE0 and bag.geometry["locations"] == "centres"
    np.testing.assert_array_equal(bag.coords[["x", "y"]].to_numpy(), COORDS)
    np.testing.assert_allclose(bag.coords["tile_mpp"], 0.25)  # tile_px = side0 without config


def test_a_bag_without_its_index_or_with_a_bad_config_is_named(tmp_path):
    with pytest.raises(DataNotFoundError, match="S1.index.npz"):
        read_slideflow_bag(write_torch_tensor(tmp_path / "S1.pt", FEATURES))
    path = write_slideflow(tmp_path / "sf", "S2", FEATURES, COORDS)
    (path.parent / "bags_config.json").write_text("[1, 2")
    with pytest.raises(DataError, match="bags_config.json: is not a JSON object"):
        read_slideflow_bag(path)
