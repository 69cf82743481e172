"""Slide-score figures: a heatmap readable on its own (axes, colour bar, useful size)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from featx.errors import InvalidParameterError
from featx.slidescore.plots import plot_heatmap


def test_small_heatmap_is_drawn_large_with_its_scale(tmp_path):
    grid = np.full((6, 7), np.nan)
    grid[1:5, 2:6] = np.linspace(0, 1, 16).reshape(4, 4)
    path = plot_heatmap(grid, tmp_path / "h.png", title="S1")
    width, height = Image.open(path).size
    assert width >= 500 and height >= 350  # was 56 x 48 px: a grid cell per 8 px
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    # The colour bar's pale-yellow top (inferno at 1) is in the figure, right of the grid.
    right = image[:, int(width * 0.8):]
    assert ((right[..., 0] > 230) & (right[..., 1] > 230) & (right[..., 2] < 180)).any()
    with pytest.raises(InvalidParameterError):
        plot_heatmap(np.zeros(3), tmp_path / "bad.png")

