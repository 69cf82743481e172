"""The synthetic slide writer: levels agree, stains are the known ones, labels are right."""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import InvalidParameterError
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import (
    HE_STAIN_MATRIX,
    Region,
    SyntheticSlide,
    render_region,
    write_synthetic_slide,
)


def test_levels_show_the_same_tissue(tmp_path):
    slide_file = write_synthetic_slide(tmp_path / "s.svs", width_px=2048, height_px=2048, slide_mpp=0.5)
    with open_slide(slide_file.path) as slide:
        level0 = slide.read_region(0, 0, 0, 2048, 2048).astype(float)
        level1 = slide.read_region(0, 0, 1, 512, 512).astype(float)
    shrunk = level0.reshape(512, 4, 512, 4, 3).mean(axis=(1, 3))
    assert np.abs(shrunk - level1).mean() < 6


def test_normal_tissue_optical_density_lies_in_the_stain_plane():
    slide = SyntheticSlide(path=None, width_px=512, height_px=512, slide_mpp=0.5,  # type: ignore[arg-type]
                           regions=(Region(0, 0, 512, 512, "rect", "normal"),))
    rgb = render_region(slide, 0, 0, 256, 256).astype(float)
    od = -np.log(np.maximum(rgb, 1) / 255).reshape(-1, 3)
    normal = np.cross(*HE_STAIN_MATRIX)
    # Beer-Lambert with two stains: every OD vector is a combination of H and E (up to rounding).
    off_plane = np.abs(od @ normal) / np.linalg.norm(od, axis=1)
    assert np.median(off_plane) < 0.02


def test_label_mask_orders_regions_and_counts_area():
    slide = SyntheticSlide(path=None, width_px=1000, height_px=800, slide_mpp=0.5,  # type: ignore[arg-type]
                           regions=(Region(0, 0, 600, 800, "rect", "normal"),
                                    Region(400, 200, 200, 200, "rect", "tumour")))
    labels = slide.label_mask(10.0)
    assert labels.shape == (80, 100)
    assert (labels == 2).sum() == 20 * 20 and (labels == 1).sum() == 60 * 80 - 400
    ellipse = Region(0, 0, 800, 400)
    assert ellipse.area_px() == pytest.approx(np.pi * 400 * 200)


def test_regions_validate():
    with pytest.raises(InvalidParameterError, match="label"):
        Region(0, 0, 10, 10, label="lymph")
    with pytest.raises(InvalidParameterError, match="fmt"):
        write_synthetic_slide("x.svs", fmt="ndpi")
