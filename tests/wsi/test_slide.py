"""open_slide: metadata, mpp sources and overrides, clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import InvalidParameterError, MissingMppError, SlideError
from featx.wsi.slide import metadata_mpp, open_slide
from featx.wsi.synthetic import write_synthetic_slide


@pytest.fixture(scope="module")
def aperio_slide(tmp_path_factory):
    path = tmp_path_factory.mktemp("slides") / "aperio.svs"
    return write_synthetic_slide(path, width_px=2048, height_px=1536, slide_mpp=0.25, seed=3)


def test_reads_aperio_metadata(aperio_slide):
    with open_slide(aperio_slide.path) as slide:
        info = slide.info
    assert (info.width, info.height) == (2048, 1536)
    assert info.vendor == "aperio"
    assert info.slide_mpp == pytest.approx(0.25)
    assert info.level_count == 2
    assert info.level_downsamples == pytest.approx((1.0, 4.0))
    assert info.slide_id == "aperio"


@pytest.mark.parametrize("fmt, source", [("aperio", "openslide"), ("tiff", "openslide")])
def test_mpp_from_each_format(tmp_path, fmt, source):
    slide = write_synthetic_slide(tmp_path / f"s.{fmt}", width_px=600, height_px=400, slide_mpp=0.4990,
                                  fmt=fmt, downsamples=(1,))
    with open_slide(slide.path) as opened:
        assert opened.slide_mpp == pytest.approx(0.4990, rel=1e-4)
        assert opened.info.slide_mpp_source == source


def test_missing_mpp_raises_clear_error_and_override_works(tmp_path):
    slide = write_synthetic_slide(tmp_path / "nompp.tiff", width_px=600, height_px=400,
                                  fmt="tiff-no-mpp", downsamples=(1,))
    with pytest.raises(MissingMppError) as caught:
        open_slide(slide.path)
    message = str(caught.value)
    assert "nompp.tiff" in message and "slide_mpp=" in message and "--slide-mpp" in message
    with open_slide(slide.path, slide_mpp=0.5) as opened:
        assert opened.slide_mpp == 0.5 and opened.info.slide_mpp_source == "override"


def test_override_beats_metadata(aperio_slide):
    with open_slide(aperio_slide.path, slide_mpp=0.3) as slide:
        assert slide.slide_mpp == 0.3


def test_metadata_fallbacks_and_implausible_values():
    assert metadata_mpp({"aperio.MPP": "0.2527"}) == (0.2527, "aperio")
    desc = "Aperio Image Library v10 |AppMag = 40|MPP = 0.2520|Date = 01/01/20"
    assert metadata_mpp({"tiff.ImageDescription": desc}) == (0.252, "aperio")
    tags = {"tiff.XResolution": "40000", "tiff.ResolutionUnit": "centimeter"}
    assert metadata_mpp(tags) == (0.25, "tiff")
    # 72 dpi, written by generic tools, is not a microscope resolution.
    assert metadata_mpp({"tiff.XResolution": "72", "tiff.ResolutionUnit": "inch"}) == (None, "none")


def test_truncated_file_raises_error_naming_it(aperio_slide, tmp_path):
    data = aperio_slide.path.read_bytes()
    broken = tmp_path / "truncated.svs"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(SlideError) as caught:
        with open_slide(broken) as slide:
            slide.read_level(0)
    assert "truncated.svs" in str(caught.value)


def test_not_a_slide_and_missing_file(tmp_path):
    junk = tmp_path / "notes.svs"
    junk.write_text("not a slide")
    with pytest.raises(SlideError, match="notes.svs"):
        open_slide(junk)
    with pytest.raises(SlideError, match="no such file"):
        open_slide(tmp_path / "absent.svs")


def test_read_region_and_validation(aperio_slide):
    with open_slide(aperio_slide.path) as slide:
        region = slide.read_region(0, 0, 1, 64, 32)
        assert region.shape == (32, 64, 3) and region.dtype == np.uint8
        # Outside the slide is transparent in OpenSlide and comes back as white glass.
        outside = slide.read_region(5000, 5000, 0, 16, 16)
        assert (outside == 255).all()
        with pytest.raises(InvalidParameterError, match="level"):
            slide.read_region(0, 0, 7, 8, 8)
        with pytest.raises(InvalidParameterError, match="width"):
            slide.read_region(0, 0, 0, -3, 8)
    with pytest.raises(SlideError, match="closed"):
        slide.read_region(0, 0, 0, 8, 8)
    with pytest.raises(InvalidParameterError, match="mpp"):
        open_slide(aperio_slide.path, slide_mpp=-1)


def test_thumbnail_size_and_best_level(aperio_slide):
    with open_slide(aperio_slide.path) as slide:
        thumb = slide.thumbnail(thumbnail_mpp=4.0)
        assert thumb.shape == (96, 128, 3)
        assert slide.best_level(1.0) == 0
        assert slide.best_level(3.99) == 1  # within the 1% tolerance
        assert slide.best_level(16.0) == 1


@pytest.mark.realdata
def test_cmu1_small_region(shared_data):
    with open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs") as slide:
        assert slide.slide_mpp == pytest.approx(0.499)
        assert (slide.info.width, slide.info.height) == (2220, 2967)
        assert slide.info.vendor == "aperio"
        assert slide.info.objective_power == 20


def test_allocations_a_slide_read_asks_for_are_checked_first(tmp_path, monkeypatch):
    from featx import _validate
    from featx.errors import MemoryBudgetError

    path = write_synthetic_slide(tmp_path / "s.svs", width_px=2048, height_px=2048,
                                 slide_mpp=0.5).path
    monkeypatch.setattr(_validate, "_UNCHECKED_BYTES", 0)
    monkeypatch.setattr(_validate, "available_memory", lambda: 4 * 2**20)  # 4 MiB free
    with open_slide(path) as slide:
        slide.thumbnail(thumbnail_mpp=8.0)  # 128 x 128 px: fits
        with pytest.raises(MemoryBudgetError, match=r"a 2048 x 2048 px thumbnail of s needs"):
            slide.thumbnail(thumbnail_mpp=0.5)
        with pytest.raises(MemoryBudgetError, match="reading 2000 x 2000 px of s"):
            slide.read_region(0, 0, 0, 2000, 2000)


def test_slide_mpp_override_has_the_shared_bounds(tmp_path):
    path = write_synthetic_slide(tmp_path / "s.svs", width_px=512, height_px=512).path
    for value in (1e-9, 1e9, 0.0):
        with pytest.raises(InvalidParameterError, match=r"slide_mpp must be a number in \[0.05"):
            open_slide(path, slide_mpp=value)
