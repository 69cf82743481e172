"""DeepZoom over any slide: OpenSlide's geometry, the same pixels, bounded reads without a pyramid."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from featx.errors import InvalidParameterError
from featx.wsi import deepzoom
from featx.wsi.deepzoom import DeepZoom, read_scaled
from featx.wsi.slide import open_slide
from featx.wsi.synthetic import render_region, write_synthetic_slide


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic_slide(tmp_path_factory.mktemp("dz") / "D.svs", width_px=3000,
                                 height_px=1700, slide_mpp=0.5, downsamples=(1, 4))


def _openslide_pyramid(path):
    import openslide
    from openslide.deepzoom import DeepZoomGenerator

    return openslide.OpenSlide(str(path)), DeepZoomGenerator  # caller closes the slide


def test_the_pyramid_has_openslides_levels_and_tiles(synthetic):
    handle, generator = _openslide_pyramid(synthetic.path)
    with handle, open_slide(synthetic.path) as slide:
        theirs, ours = generator(handle, tile_size=254, overlap=1, limit_bounds=False), DeepZoom(slide)
        assert ours.level_count == theirs.level_count == 13  # ceil(log2(3000)) + 1
        assert ours.level_dimensions == theirs.level_dimensions
        assert ours.level_tiles == theirs.level_tiles
        assert ours.tile_count == theirs.tile_count
        # Full resolution: the very same pixels; coarser levels: the same picture, resampled.
        for level, tolerance in ((12, 0.0), (11, 6.0), (9, 6.0)):
            col, row = (n // 2 for n in ours.level_tiles[level])
            theirs_tile = np.asarray(theirs.get_tile(level, (col, row)).convert("RGB"), float)
            ours_tile = ours.tile(level, col, row).astype(float)
            assert ours_tile.shape == theirs_tile.shape
            assert np.abs(ours_tile - theirs_tile).mean() <= tolerance


def test_a_tile_is_where_the_dzi_layout_says(synthetic):
    with open_slide(synthetic.path) as slide:
        pyramid = DeepZoom(slide, tile_px=254, overlap=1)
        # Tile (1, 2) of full resolution starts one overlap pixel before 254 x (1, 2).
        assert pyramid.tile_region(12, 1, 2) == (253, 507, 256, 256, 256, 256)
        # The last column is narrower: what is left of the 3000-pixel width.
        x, _, width, _, out_w, _ = pyramid.tile_region(12, 11, 0)
        assert (x, width, out_w) == (2793, 3000 - 2793, 3000 - 2793)
        # One level down, a tile pixel is two slide pixels.
        assert pyramid.tile_region(11, 0, 0)[2:] == (510, 510, 255, 255)
        descriptor = pyramid.descriptor("/dz/D/")["Image"]
        assert descriptor["Size"] == {"Width": "3000", "Height": "1700"}
        assert (descriptor["TileSize"], descriptor["Overlap"]) == ("254", "1")
        with pytest.raises(InvalidParameterError, match="level"):
            pyramid.tile(13, 0, 0)
        with pytest.raises(InvalidParameterError, match="tile"):
            pyramid.tile(12, 12, 0)


def test_a_plain_tiff_without_pyramid_is_read_in_bounded_chunks(tmp_path, monkeypatch):
    # A striped RGB TIFF of one level (tifffile reader): the top tiles shrink the whole image.
    synthetic = write_synthetic_slide(tmp_path / "ref.svs", width_px=2600, height_px=1800,
                                      slide_mpp=0.5)
    pixels = render_region(synthetic, 0, 0, 2600, 1800)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, pixels, photometric="rgb", rowsperstrip=64,
                     resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")
    monkeypatch.setattr(deepzoom, "CHUNK_PX", 512)
    with open_slide(plain) as slide:
        assert slide.info.reader == "tifffile" and slide.info.level_count == 1
        reads = []
        original = slide.read_region

        def recording(x, y, level, width, height):
            reads.append((width, height))
            return original(x, y, level, width, height)

        monkeypatch.setattr(slide, "read_region", recording)
        pyramid = DeepZoom(slide)
        top = pyramid.tile(pyramid.max_level - 4, 0, 0)  # the whole slide, 16 times smaller
        assert max(max(r) for r in reads) <= 512
        assert top.shape == (113, 163, 3)
        expected = pixels[:1792:16, :2592:16].astype(float)  # a box filter keeps the picture
        assert np.abs(top[:112, :162].astype(float) - expected).mean() < 12


def test_read_scaled_copies_a_region_at_full_resolution(synthetic):
    with open_slide(synthetic.path) as slide:
        region = read_scaled(slide, 100, 200, 300, 150, 300, 150)
        assert np.array_equal(region, slide.read_region(100, 200, 0, 300, 150))


def test_cmu1_pyramid_matches_openslide(shared_data):
    path = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    handle, generator = _openslide_pyramid(path)
    with handle, open_slide(path) as slide:
        theirs, ours = generator(handle, tile_size=254, overlap=1, limit_bounds=False), DeepZoom(slide)
        assert ours.level_dimensions == theirs.level_dimensions
        top = ours.max_level
        assert np.array_equal(ours.tile(top, 3, 4),
                              np.asarray(theirs.get_tile(top, (3, 4)).convert("RGB")))
