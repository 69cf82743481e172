"""The tile grid: indices checked, values on and off the grid, tissue pieces, canvases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featx.errors import InvalidParameterError
from featx.wsi.tile_grid import (
    canvas_layouts,
    grid_shape,
    grid_to_values,
    tile_extent_l0,
    tissue_pieces,
    values_to_grid,
)


def _table(cells):
    rows, cols = zip(*cells, strict=True)
    return pd.DataFrame({"row": rows, "col": cols, "x": [c * 10 for c in cols],
                         "y": [r * 10 for r in rows], "level": 0, "read_px": 10})


def test_values_round_trip_through_the_grid():
    coords = _table([(0, 2), (3, 1), (1, 1)])
    assert grid_shape(coords) == (4, 3)
    feats = np.arange(6, dtype=np.float32).reshape(3, 2)
    grid = values_to_grid(coords, feats)
    assert grid.shape == (4, 3, 2) and np.isnan(grid[0, 0]).all()
    np.testing.assert_array_equal(grid[3, 1], [2, 3])
    np.testing.assert_array_equal(grid_to_values(coords, grid), feats)
    assert values_to_grid(coords, np.ones(3), fill=0.0).sum() == 3
    with pytest.raises(InvalidParameterError, match="values"):
        values_to_grid(coords, np.ones(4))
    with pytest.raises(InvalidParameterError, match="row"):
        grid_shape(pd.DataFrame({"x": [0]}))
    with pytest.raises(InvalidParameterError, match="negative"):
        grid_shape(_table([(-1, 0)]))


def test_tile_extent_uses_the_read_level():
    coords = pd.DataFrame({"row": [0, 0], "col": [0, 1], "read_px": [64, 64], "level": [0, 1]})
    np.testing.assert_allclose(tile_extent_l0(coords, level_downsamples=[1.0, 4.0]), [64, 256])
    with pytest.raises(InvalidParameterError, match="level_downsamples"):
        tile_extent_l0(coords)


def test_pieces_and_canvas_layout_centre_each_piece():
    coords = _table([(0, 0), (0, 1), (1, 1), (5, 5), (5, 6), (9, 9)])
    pieces = tissue_pieces(coords)
    np.testing.assert_array_equal(pieces, [0, 0, 0, 1, 1, 2])  # biggest piece first
    layouts = canvas_layouts(coords, canvas_shape=(4, 4))
    assert [len(lay.tile_ids) for lay in layouts] == [3, 2, 1]
    first = layouts[0]  # a 2x2 bounding box centred on 4x4 -> offset (1, 1)
    np.testing.assert_array_equal(first.rows, [1, 1, 2])
    np.testing.assert_array_equal(first.cols, [1, 2, 2])
    placed = first.place(np.arange(6, dtype=float)[:, None] + 1)
    assert placed.shape == (4, 4, 1) and placed.sum() == 1 + 2 + 3
    whole = canvas_layouts(coords, canvas_shape=(10, 10), split_pieces=False)
    assert len(whole) == 1 and len(whole[0].tile_ids) == 6
    with pytest.raises(InvalidParameterError, match="canvas_shape"):
        canvas_layouts(coords, canvas_shape=(8, 8), split_pieces=False)
