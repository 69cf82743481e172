"""DICOM WSI without ImageType: frames placed from the attributes, spacing, pyramids, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pydicom")

from featx.errors import MissingMppError, SlideError  # noqa: E402
from featx.wsi.slide import open_slide  # noqa: E402
from tests.wsi._dicom_files import write_dicom_wsi  # noqa: E402


def _image(h: int = 150, w: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, (3 * xx + yy) % 256], -1).astype(np.uint8)


def test_uncompressed_tiled_full_without_image_type(tmp_path):
    image = _image()
    path = write_dicom_wsi(tmp_path / "wsi.dcm", image, spacing_mm=0.00025)
    with open_slide(path) as slide:
        assert slide.info.reader == "dicom" and slide.info.vendor == "dicom"
        assert (slide.info.width, slide.info.height) == (200, 150)
        assert slide.slide_mpp == pytest.approx(0.25) and slide.info.slide_mpp_source == "dicom"
        np.testing.assert_array_equal(slide.read_region(10, 20, 0, 150, 100),
                                      image[20:120, 10:160])
        # The last frames overhang the matrix: what lies outside it is white.
        assert (slide.read_region(190, 140, 0, 30, 30)[10:, :] == 255).all()


def test_jpeg_sparse_frames_and_pyramid_of_siblings(tmp_path):
    image = _image(256, 320)
    path = write_dicom_wsi(tmp_path / "level0.dcm", image, jpeg=True, sparse=True,
                           series_uid="1.2.3.4")
    write_dicom_wsi(tmp_path / "level1.dcm", image[::2, ::2].copy(), jpeg=True,
                    spacing_mm=0.0005, series_uid="1.2.3.4")
    write_dicom_wsi(tmp_path / "label.dcm", image[:64, :64].copy(), image_type=["LABEL"],
                    series_uid="1.2.3.4")
    with open_slide(path) as slide:
        assert slide.info.level_dimensions == ((320, 256), (160, 128))
        assert slide.info.level_downsamples == (1.0, 2.0)
        region = slide.read_region(0, 0, 0, 128, 128).astype(int)
        assert np.abs(region - image[:128, :128]).mean() < 6
        # The frame the scanner left out (the last one) reads as glass.
        assert (slide.read_region(256, 192, 0, 64, 64) == 255).all()
    with open_slide(tmp_path) as folder:  # the folder itself is the slide too
        assert folder.info.level_count == 2


def test_missing_spacing_asks_for_mpp_and_truncation_is_named(tmp_path):
    path = write_dicom_wsi(tmp_path / "nospacing.dcm", _image(), spacing_mm=None)
    with pytest.raises(MissingMppError, match="--slide-mpp"):
        open_slide(path)
    with open_slide(path, slide_mpp=0.5) as slide:
        assert slide.info.slide_mpp_source == "override"
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 5000])
    with pytest.raises(SlideError, match="truncated") as caught:
        open_slide(cut, slide_mpp=0.5)
    assert "cut.dcm" in str(caught.value)


def test_our_frame_placement_agrees_with_openslide(tmp_path):
    # With an ImageType OpenSlide reads the same file; without one, featx's reader does.
    image = _image(300, 400)
    (tmp_path / "typed").mkdir()
    typed = write_dicom_wsi(tmp_path / "typed" / "wsi.dcm", image, frame_px=128,
                            image_type=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"])
    untyped = write_dicom_wsi(tmp_path / "wsi.dcm", image, frame_px=128)
    with open_slide(typed) as by_openslide, open_slide(untyped) as by_featx:
        assert by_openslide.info.reader == "openslide" and by_featx.info.reader == "dicom"
        assert by_openslide.slide_mpp == pytest.approx(by_featx.slide_mpp)
        np.testing.assert_array_equal(by_openslide.read_region(50, 60, 0, 300, 200),
                                      by_featx.read_region(50, 60, 0, 300, 200))


def test_pydicom_warnings_become_one_featx_warning_and_bad_spacing_is_missing(tmp_path):
    """A header pydicom warns about is read, with one warning in featx's words naming the file;
    a PixelSpacing that is not two numbers is a missing mpp, not a crash."""
    import warnings

    (tmp_path / "uid").mkdir()
    path = write_dicom_wsi(tmp_path / "uid" / "odd.dcm", _image(), series_uid="1.2.3.4444")
    path.write_bytes(path.read_bytes().replace(b"1.2.3.4444", b"1.2.3.44x4"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_slide(path) as slide:
            assert slide.slide_mpp == pytest.approx(0.25)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and messages[0].startswith("odd.dcm: its DICOM header is not "
                                                         "quite standard (1 issue")
    (tmp_path / "spacing").mkdir()
    bad = write_dicom_wsi(tmp_path / "spacing" / "bad.dcm", _image(), spacing_mm=0.00025)
    bad.write_bytes(bad.read_bytes().replace(b"0.00025\\0.00025", b"0.00025\\0.000x5"))
    with pytest.warns(UserWarning, match=r"bad.dcm: its DICOM PixelSpacing .* not two positive"):
        with pytest.raises(MissingMppError, match="--slide-mpp"):
            open_slide(bad)
    with pytest.warns(UserWarning, match="PixelSpacing"), open_slide(bad, slide_mpp=0.5) as slide:
        assert slide.slide_mpp == 0.5
