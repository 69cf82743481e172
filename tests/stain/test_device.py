"""The device-side Macenko apply (TensorFlow ops) equals the NumPy per-slide path.

Tolerance: identical tissue masks and statuses; pixel values within 1 grey level,
and fewer than 1 % of them differing at all (TensorFlow's and NumPy's float32 ``exp``
round differently, and the output is truncated to uint8).
"""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import InvalidParameterError, NotFittedError
from featx.stain._kernels import OD_LUT
from featx.stain.device import DeviceMacenko, first_not_faint, tissue_bits
from featx.stain.macenko import STATUS_OK, MacenkoNormalizer, tissue_pixels
from featx.wsi.synthetic import HE_STAIN_MATRIX, TUMOUR_STAIN_MATRIX
from tests.stain.test_macenko import glass_batch, he_image

pytest.importorskip("tensorflow")


def _fitted(background: str = "unchanged", source: np.ndarray | None = None) -> MacenkoNormalizer:
    target = he_image(HE_STAIN_MATRIX, size=96, seed=10)[0]
    if source is None:
        source = np.stack([he_image(TUMOUR_STAIN_MATRIX, size=96, seed=s)[0] for s in range(4)])
    return MacenkoNormalizer(mode="per_slide", background=background).fit(target).fit_source(
        source)


def _assert_close(device: np.ndarray, numpy: np.ndarray) -> None:
    diff = np.abs(device.astype(int) - numpy.astype(int))
    assert diff.max() <= 1, f"max abs difference {diff.max()} grey levels"
    assert np.count_nonzero(diff) <= 0.01 * diff.size, f"{np.count_nonzero(diff)} values differ"


def test_tissue_bits_equal_the_opencv_mask() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(1, 64, 64, 3), dtype=np.uint8)
    wide = rgb.astype(np.int64)
    keys = wide[..., 0] + 256 * wide[..., 1] + 65536 * wide[..., 2]
    bits = tissue_bits(0.8)
    from_bits = (bits[keys >> 5] >> (keys & 31)) & 1
    assert np.array_equal(from_bits.astype(bool), tissue_pixels(rgb, luminosity_threshold=0.8))


@pytest.mark.parametrize("background", ["unchanged", "normalize"])
def test_device_equals_numpy_on_synthetic_and_glass_tiles(background: str) -> None:
    norm = _fitted(background)
    tiles, _ = glass_batch()
    tissue = np.stack([he_image(TUMOUR_STAIN_MATRIX, size=100, seed=20 + s)[0] for s in range(4)])
    tiles = np.concatenate([tiles, tissue])
    expected, expected_status = norm.transform_with_status(tiles)
    step = DeviceMacenko.from_normalizer(norm)
    out, status = step.transform_with_status(tiles)
    assert out.dtype == np.uint8 and out.shape == tiles.shape
    assert status.tolist() == expected_status.tolist()
    _assert_close(out, expected)
    if background == "unchanged":
        flagged = status != STATUS_OK
        assert flagged.any() and np.array_equal(out[flagged], tiles[flagged])


@pytest.mark.realdata
def test_device_equals_numpy_on_real_tiles(shared_data) -> None:
    from PIL import Image

    paths = sorted((shared_data / "tiles" / "lc25000_lung_224px").glob("*/*.jpeg"))[::40]
    if len(paths) < 10:
        pytest.skip("LC25000 tiles absent")
    tiles = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    target = np.asarray(Image.open(shared_data / "stain_ref" / "torchstain_target.png")
                        .convert("RGB"))
    norm = MacenkoNormalizer(mode="per_slide").fit(target).fit_source(tiles[:8])
    expected, expected_status = norm.transform_with_status(tiles)
    out, status = DeviceMacenko.from_normalizer(norm).transform_with_status(tiles)
    assert status.tolist() == expected_status.tolist()
    assert (status == STATUS_OK).sum() >= len(tiles) // 2
    _assert_close(out, expected)


@pytest.mark.parametrize("value", [0, 255, (200, 40, 120), (250, 250, 250), (30, 30, 200)])
def test_single_colour_tiles_are_finite_and_follow_numpy(value) -> None:
    """White, black and single-colour tiles: no NaN reaches the uint8 cast, statuses agree."""
    import tensorflow as tf

    tile = np.broadcast_to(np.array(value, np.uint8), (2, 32, 32, 3)).copy()
    for background in ("unchanged", "normalize"):
        norm = _fitted(background)
        step = DeviceMacenko.from_normalizer(norm)
        # NaN would vanish in the uint8 cast, so the concentrations themselves are checked.
        od = tf.gather(tf.constant(OD_LUT), tf.cast(tile, tf.int32))
        conc = step._concentrations(od, tf.constant(step.params))
        assert np.isfinite(conc.numpy()).all()
        out, status = step.transform_with_status(tile)
        expected, expected_status = norm.transform_with_status(tile)
        assert status.tolist() == expected_status.tolist()
        _assert_close(out, expected)


def test_a_slide_fit_whose_stains_are_parallel_stays_finite() -> None:
    """A degenerate source (both stains one vector): the guarded inverse gives finite output."""
    norm = _fitted("normalize")
    norm.stain_matrix_source_ = np.repeat(norm.stain_matrix_source_[:1], 2, axis=0)
    tiles = np.stack([he_image(HE_STAIN_MATRIX, size=48, seed=3)[0], np.zeros((48, 48, 3),
                                                                             np.uint8)])
    with np.errstate(all="raise"):
        expected = norm.transform(tiles)
    out, _ = DeviceMacenko.from_normalizer(norm).transform_with_status(tiles)
    _assert_close(out, expected)


def test_faint_threshold_is_numpys_float64_rule() -> None:
    n_px = 224 * 224
    k = first_not_faint(n_px, 0.02)
    assert k / n_px >= 0.02 > (k - 1) / n_px


def test_clear_errors() -> None:
    with pytest.raises(InvalidParameterError, match="per_slide"):
        DeviceMacenko.from_normalizer(MacenkoNormalizer())
    target = he_image(HE_STAIN_MATRIX, size=64, seed=1)[0]
    with pytest.raises(NotFittedError, match="fit_source"):
        DeviceMacenko.from_normalizer(MacenkoNormalizer(mode="per_slide").fit(target))
