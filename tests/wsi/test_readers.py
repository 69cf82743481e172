"""The fallback readers: OME-TIFF, plain and striped TIFF; errors that name what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from featx.errors import MissingMppError, SlideError
from featx.wsi.readers import diagnose
from featx.wsi.slide import find_slides, open_slide
from featx.wsi.synthetic import write_synthetic_slide
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles


def _image(h: int = 700, w: int = 900, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], -1)
    return (base + rng.integers(0, 8, base.shape)).clip(0, 255).astype(np.uint8)


def test_ome_tiff_jpeg_tiles_mpp_from_ome_in_nanometres(tmp_path):
    image = _image()
    path = tmp_path / "case7.ome.tif"
    # QuPath/Bio-Formats style: one level, JPEG tiles, physical size in the OME XML only.
    tifffile.imwrite(path, image, tile=(256, 256), compression="jpeg", photometric="rgb",
                     metadata={"axes": "YXS", "PhysicalSizeX": 250.0, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 250.0, "PhysicalSizeYUnit": "nm"})
    with open_slide(path) as slide:
        assert slide.slide_mpp == pytest.approx(0.25) and slide.info.slide_mpp_source == "ome"
        assert slide.slide_id == "case7"
        region = slide.read_region(100, 50, 0, 300, 200).astype(int)
    assert np.abs(region - image[50:250, 100:400]).mean() < 4  # JPEG, quality 75
    assert list(find_slides(tmp_path)) == ["case7"]


def test_ome_tiff_pyramid_in_subifds(tmp_path):
    image = _image(1024, 1536)
    path = tmp_path / "pyr.ome.tiff"
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(image, subifds=1, tile=(256, 256), photometric="rgb",
                  metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(image[::4, ::4], subfiletype=1, tile=(256, 256), photometric="rgb")
    with open_slide(path) as slide:
        assert slide.info.reader == "tifffile" and slide.info.vendor == "ome-tiff"
        assert slide.info.level_dimensions == ((1536, 1024), (384, 256))
        assert slide.info.level_downsamples == (1.0, 4.0)
        assert slide.slide_mpp == 0.5
        np.testing.assert_array_equal(slide.read_region(400, 200, 1, 50, 40),
                                      image[::4, ::4][50:90, 100:150])
        np.testing.assert_array_equal(slide.read_region(1500, 1000, 0, 64, 64)[24:, 36:], 255)


@pytest.mark.parametrize("unit, resolution, mpp", [
    ("CENTIMETER", 20000.0, 0.5), ("INCH", 101600.0, 0.25), (None, None, None)])
def test_plain_striped_rgb_tiff(tmp_path, unit, resolution, mpp):
    image = _image()
    path = tmp_path / "plain.tif"
    kwargs = {"resolution": (resolution, resolution), "resolutionunit": unit} if unit else {}
    tifffile.imwrite(path, image, photometric="rgb", rowsperstrip=7, **kwargs)
    if mpp is None:
        with pytest.raises(MissingMppError, match="--slide-mpp"):
            open_slide(path)
        mpp_given = 0.4
    with open_slide(path, slide_mpp=None if mpp else mpp_given) as slide:
        assert slide.info.reader == "tifffile" and slide.info.level_count == 1
        assert slide.slide_mpp == pytest.approx(mpp or mpp_given)
        np.testing.assert_array_equal(slide.read_region(13, 11, 0, 500, 333),
                                      image[11:344, 13:513])
        thumb = slide.thumbnail(thumbnail_mpp=slide.slide_mpp * 10)
        assert thumb.shape == (70, 90, 3)
        # Tiles are read from the single level and shrunk: no pyramid needed.
        spec = TileSpec(tile_px=32, tile_mpp=slide.slide_mpp * 4, min_tissue=0.0)
        rows = grid_coords(slide, spec)
        tiles = read_tiles(slide, rows.iloc[:3], num_workers=2)
        assert tiles.shape == (3, 32, 32, 3)


def test_sixteen_bit_grey_tiff_keeps_its_contrast(tmp_path):
    grey = (np.linspace(0, 65535, 400 * 300).reshape(300, 400)).astype(np.uint16)
    path = tmp_path / "grey16.tif"
    tifffile.imwrite(path, grey, photometric="minisblack", tile=(128, 128))
    with open_slide(path, slide_mpp=0.5) as slide:
        region = slide.read_region(0, 0, 0, 400, 300)
    assert region.shape == (300, 400, 3) and (region[..., 0] == region[..., 2]).all()
    assert region.min() == 0 and region.max() == 255


def test_empty_truncated_unsupported_and_intact_files_are_told_apart(tmp_path):
    slide = write_synthetic_slide(tmp_path / "good.svs", width_px=2048, height_px=1536,
                                  slide_mpp=0.25, seed=1)
    data = slide.path.read_bytes()
    (tmp_path / "empty.svs").write_bytes(b"")
    (tmp_path / "half.svs").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.svs").write_text("this is a text file")
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((64, 64), np.float32))
    cases = {"empty.svs": "empty (0 bytes)", "half.svs": "truncated",
             "notes.svs": "not a slide format", "float.tif": "intact TIFF"}
    for name, words in cases.items():
        with pytest.raises(SlideError) as caught:
            open_slide(tmp_path / name, slide_mpp=0.5)
        message = str(caught.value)
        assert name in message and words in message, message
        assert "\n" not in message
    assert "no such file" in diagnose(tmp_path / "absent.svs")


@pytest.mark.realdata
def test_real_svs_cut_in_half_is_called_truncated(shared_data, tmp_path):
    # Aperio writes its directories after the pixels: the cut takes them all.
    data = (shared_data / "wsi" / "CMU-1-Small-Region.svs").read_bytes()
    half = tmp_path / "CMU-1-half.svs"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(SlideError, match="truncated: the file has 969,477 bytes"):
        open_slide(half)


@pytest.mark.realdata
def test_real_slide_as_ome_and_plain_tiff_reads_the_same_pixels(shared_data, tmp_path):
    with open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs") as slide:
        image, mpp = slide.read_level(0).copy(), slide.slide_mpp
    plain = tmp_path / "cmu1.tif"
    tifffile.imwrite(plain, image, photometric="rgb", resolution=(1e4 / mpp, 1e4 / mpp),
                     resolutionunit="CENTIMETER")
    with open_slide(plain) as slide:
        assert slide.slide_mpp == pytest.approx(mpp) and slide.info.reader == "tifffile"
        np.testing.assert_array_equal(slide.read_region(0, 0, 0, 2220, 2967), image)


def test_single_strip_uncompressed_tiff_is_memory_mapped(tmp_path):
    image = _image(600, 800)
    path = tmp_path / "onestrip.tif"
    tifffile.imwrite(path, image, photometric="rgb", rowsperstrip=600,
                     resolution=(20000.0, 20000.0), resolutionunit="CENTIMETER")
    with open_slide(path) as slide:
        assert slide._handle._maps[0] is not None  # sliced from the file, not decoded whole
        np.testing.assert_array_equal(slide.read_region(-10, 590, 0, 40, 20)[:10, 10:],
                                      image[590:600, :30])
        assert (slide.read_region(-10, 590, 0, 40, 20)[10:] == 255).all()


def test_a_folder_without_dicom_is_named_as_such(tmp_path):
    (tmp_path / "slides").mkdir()
    with pytest.raises(SlideError, match="a folder without DICOM"):
        open_slide(tmp_path / "slides", slide_mpp=0.5)


def test_a_huge_compressed_strip_is_refused_not_decoded(tmp_path, monkeypatch):
    import featx.wsi.readers as readers

    path = tmp_path / "onestrip_lzw.tif"
    tifffile.imwrite(path, _image(600, 800), photometric="rgb", rowsperstrip=600,
                     compression="lzw", resolution=(20000.0, 20000.0),
                     resolutionunit="CENTIMETER")
    monkeypatch.setattr(readers, "_MAX_SEGMENT_BYTES", 1 << 20)  # the 1.4 MB strip is "huge"
    with pytest.raises(SlideError, match="compressed pieces of .* too large"):
        open_slide(path)


def test_tifffile_reader_reads_what_openslide_reads(tmp_path):
    from featx.wsi.readers import OpenSlideReader, TiffReader

    slide = write_synthetic_slide(tmp_path / "s.svs", width_px=2048, height_px=1536, slide_mpp=0.5,
                                  downsamples=(1, 4), seed=2)
    ours, theirs = TiffReader(slide.path), OpenSlideReader(slide.path)
    try:
        assert ours.level_dimensions == theirs.level_dimensions == ((2048, 1536), (512, 384))
        for level, (x, y) in ((0, (130, 70)), (1, (400, 200))):
            np.testing.assert_array_equal(ours.read(x, y, level, 150, 90),
                                          theirs.read(x, y, level, 150, 90))
    finally:
        ours.close()
        theirs.close()
