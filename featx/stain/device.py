"""The per-slide Macenko apply step as TensorFlow ops, batched, on the model's device.

With one source fit per slide (``MacenkoNormalizer(mode="per_slide")`` after
``fit_source``), normalising a tile is arithmetic on every pixel: optical density,
the closed-form non-negative lasso concentrations with the slide's stain matrix,
scaling to the target's maxima and recombination with the target's stains. On a GPU
that runs beside the model instead of on the CPU cores that decode the slide.
:class:`DeviceMacenko` holds one slide's fit; :meth:`DeviceMacenko.tf_apply` is the
graph, called inside the extractor's ``tf.function``
(:meth:`featx.extractors.keras_model.KerasExtractor.embed_on_device`).

Equal to the NumPy path, by construction and by test (``tests/stain/test_device.py``):

- optical density is read from the same float32 table (``OD_LUT``), concentrations
  follow the same single-precision formula step for step;
- tissue pixels come from a bit table over all 2^24 colours filled once per process
  with :func:`featx.stain.macenko.tissue_pixels` itself (OpenCV's 8-bit LAB), so the
  tissue mask, the tissue counts and hence every tile's status are identical;
- the output is truncated to uint8 as staintools does. Only ``exp`` and the order of
  float32 sums may differ between TensorFlow and NumPy, so a pixel value may differ
  by one grey level where the float result lies within rounding of an integer
  (tolerance: max abs difference 1, under 1 % of values; measured on 120 LC25000
  tiles on a CPU: 1 grey level on 7e-6 of the values, statuses identical).

Background and faint tiles follow ``background`` as in NumPy: ``"unchanged"``
returns them exactly as they came. White, black and single-colour tiles give finite
output (OD is at least 1e-6, the lasso's inverse determinant is guarded).

TensorFlow is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from featx._validate import rgb_batch
from featx.errors import InvalidParameterError, NotFittedError
from featx.stain._kernels import OD_LUT, ONE_COLOUR_LEVELS, tissue_pixels
from featx.stain.macenko import (
    STATUS_BACKGROUND,
    STATUS_FAINT,
    STATUS_OK,
    MacenkoNormalizer,
)

#: Parameters per slide, in :attr:`DeviceMacenko.params`: source stains (6), source
#: maxima (2), target stains (6), target maxima (2).
N_PARAMS = 16
_BITS: dict[float, np.ndarray] = {}
_BITS_LOCK = threading.Lock()


def tissue_bits(luminosity_threshold: float) -> np.ndarray:
    """Tissue flag of every RGB colour, packed 32 to an int32 word (2 MiB, cached).

    Bit ``k & 31`` of word ``k >> 5`` is set when colour ``k = r + 256 g + 65536 b`` is
    tissue by :func:`~featx.stain.macenko.tissue_pixels` (OpenCV's 8-bit LAB), so
    the device's tissue mask is the NumPy path's exactly. Filled in about 0.3 s.
    """
    key = float(luminosity_threshold)
    with _BITS_LOCK:
        if key not in _BITS:
            keys = np.arange(1 << 24, dtype="<u4")
            rgb = np.stack([keys & 255, (keys >> 8) & 255, keys >> 16], axis=-1).astype(np.uint8)
            flags = tissue_pixels(rgb.reshape(1, 4096, 4096, 3), luminosity_threshold=key)
            packed = np.packbits(flags.reshape(-1), bitorder="little")  # bit i of byte j: 8j+i
            _BITS[key] = packed.view("<u4").view(np.int32)  # bit k of word w: colour 32w+k
        return _BITS[key]


def first_not_faint(n_px: int, min_tissue_fraction: float) -> int:
    """Fewest tissue pixels of an ``n_px`` tile not flagged faint (NumPy's float64 rule)."""
    return int(np.count_nonzero(np.arange(n_px + 1) / n_px < min_tissue_fraction))


@dataclass(frozen=True)
class DeviceMacenko:
    """One slide's per-slide Macenko fit, applied as TensorFlow ops.

    Parameters
    ----------
    params : numpy.ndarray
        float32 (16,): source stain matrix, source maxima, target stain matrix and
        target maxima, flattened (see :meth:`from_normalizer`).
    regularizer, luminosity_threshold, min_tissue_fraction : float
        As in :class:`~featx.stain.macenko.MacenkoNormalizer`.
    background : {"unchanged", "normalize"}
        What happens to background and faint tiles.

    Notes
    -----
    :attr:`graph_key` holds what the traced graph depends on; the per-slide
    numbers travel as a tensor argument, so one trace serves every slide.
    """

    params: np.ndarray
    regularizer: float
    luminosity_threshold: float
    min_tissue_fraction: float
    background: str

    @classmethod
    def from_normalizer(cls, normalizer: MacenkoNormalizer) -> DeviceMacenko:
        """The device step of a per-slide normaliser fitted to a slide (``fit_source``).

        Raises
        ------
        InvalidParameterError
            If ``normalizer`` is not a per-slide ``MacenkoNormalizer``.
        NotFittedError
            If its target or source has not been fitted.
        """
        if not isinstance(normalizer, MacenkoNormalizer) or normalizer.mode != "per_slide":
            raise InvalidParameterError(
                "normalizer", "a MacenkoNormalizer(mode='per_slide') (the device path applies "
                "one fitted source per slide; per-tile fits run on the CPU)",
                getattr(normalizer, "mode", type(normalizer).__name__))
        if not hasattr(normalizer, "stain_matrix_source_"):
            raise NotFittedError("MacenkoNormalizer(mode='per_slide')",
                                 "call fit(target) and fit_source(slide_tiles) first")
        params = np.concatenate([
            normalizer.stain_matrix_source_.reshape(-1),
            normalizer.max_concentrations_source_.reshape(-1),
            normalizer.stain_matrix_target_.reshape(-1),
            normalizer.max_concentrations_target_.reshape(-1)]).astype(np.float32)
        return cls(params, float(normalizer.regularizer), float(normalizer.luminosity_threshold),
                   float(normalizer.min_tissue_fraction), str(normalizer.background))

    @property
    def graph_key(self) -> tuple[Any, ...]:
        """What a traced graph of this step depends on (everything but :attr:`params`)."""
        return ("macenko-per-slide", self.regularizer, self.luminosity_threshold,
                self.min_tissue_fraction, self.background)

    def tf_apply(self, tiles: Any, params: Any) -> tuple[Any, Any]:
        """Normalise a uint8 batch (N, H, W, 3) tensor; return (uint8 tiles, status codes (N,)).

        The codes (0 background, 1 faint, 2 ok; :meth:`status` names them) follow the NumPy
        rule: no tissue pixel is background; too few, or tissue of one colour, is faint.

        For use inside a ``tf.function``: ``params`` is the float32 (16,) tensor of
        :attr:`params`; H and W must be static.
        """
        import tensorflow as tf

        n_px = int(tiles.shape[1]) * int(tiles.shape[2])
        x = tf.cast(tiles, tf.int32)
        keys = x[..., 0] + x[..., 1] * 256 + x[..., 2] * 65536  # (N, H, W)
        words = tf.gather(self._bits_tensor(), tf.bitwise.right_shift(keys, 5))
        tissue = tf.bitwise.bitwise_and(
            tf.bitwise.right_shift(words, tf.bitwise.bitwise_and(keys, 31)), 1)
        counts = tf.reduce_sum(tf.reshape(tissue, (-1, n_px)), axis=1)
        codes = tf.where(counts == 0, 0, tf.where(
            (counts < first_not_faint(n_px, self.min_tissue_fraction)) | _one_colour(x, tissue),
            1, 2))
        od = tf.gather(tf.constant(OD_LUT), x)  # (N, H, W, 3) float32
        mapped = self._mix(self._concentrations(od, params), params)
        if self.background == "normalize":
            return mapped, codes
        return tf.where((codes == 2)[:, None, None, None], mapped, tiles), codes

    def _concentrations(self, od: Any, params: Any) -> Any:
        """The closed-form lasso of :func:`featx.stain._kernels.concentrations`, in TF."""
        import tensorflow as tf

        stains = tf.reshape(params[0:6], (2, 3))
        g = tf.reduce_sum(stains[0] * stains[1])
        det = 1 - g * g
        inv_det = tf.where(det > 1e-6, 1 / tf.where(det > 1e-6, det, 1.0), 0.0)
        b1 = _dot3(od, stains[0]) - self.regularizer
        b2 = _dot3(od, stains[1]) - self.regularizer
        t1, t2 = b1 - g * b2, b2 - g * b1
        c1 = tf.where(t2 <= 0, tf.maximum(b1, 0.0), tf.maximum(t1, 0.0) * inv_det)
        c2 = tf.where(t1 <= 0, tf.maximum(b2, 0.0), tf.maximum(t2, 0.0) * inv_det)
        return tf.stack([c1, c2], axis=-1)

    @staticmethod
    def _mix(conc: Any, params: Any) -> Any:
        """Scale to the target's maxima, recombine with its stains, truncate to uint8."""
        import tensorflow as tf

        scale = params[14:16] / params[6:8]
        target = tf.reshape(params[8:14], (2, 3))
        c = conc * scale
        # c1 * t1 + c2 * t2 per channel, written out: see _dot3 on why not a matmul.
        rgb = -(c[..., 0:1] * target[0] + c[..., 1:2] * target[1])
        rgb = 255.0 * tf.exp(rgb)
        return tf.cast(tf.clip_by_value(rgb, 0.0, 255.0), tf.uint8)  # truncates, as NumPy

    def _bits_tensor(self) -> Any:
        import tensorflow as tf

        with _BITS_LOCK:
            cached = _TENSORS.get(self.luminosity_threshold)
        if cached is None:
            # A variable, not a constant: 2 MiB kept on the device once, not in every graph;
            # created eagerly (init_scope) even when first asked for inside a trace.
            with tf.init_scope():
                cached = tf.Variable(tissue_bits(self.luminosity_threshold), trainable=False,
                                     name="featx_tissue_bits")
            with _BITS_LOCK:
                cached = _TENSORS.setdefault(self.luminosity_threshold, cached)
        return cached

    @staticmethod
    def status(codes: np.ndarray) -> np.ndarray:
        """Per-tile status names of the codes :meth:`tf_apply` returns."""
        return np.array([STATUS_BACKGROUND, STATUS_FAINT, STATUS_OK], dtype="<U10")[
            np.asarray(codes)]

    def transform_with_status(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalise a uint8 batch (N, H, W, 3) with TensorFlow; same contract as NumPy's.

        Returns
        -------
        normalised : numpy.ndarray
            uint8, same shape as ``tiles``.
        status : numpy.ndarray
            str (N,): ``"ok"``, ``"background"`` or ``"faint"``.
        """
        import tensorflow as tf

        tiles = rgb_batch("tiles", tiles)
        if tiles.shape[0] == 0 or tiles.shape[1] * tiles.shape[2] == 0:
            return tiles.copy(), np.full(tiles.shape[0], STATUS_OK, dtype="<U10")
        out, codes = self.tf_apply(tf.constant(tiles), tf.constant(self.params))
        return out.numpy(), self.status(codes.numpy())

    @property
    def config(self) -> dict[str, Any]:
        """JSON identity: the step and its parameters."""
        return {"step": "macenko-per-slide-device", "params": self.params.tolist(),
                "regularizer": self.regularizer, "background": self.background,
                "luminosity_threshold": self.luminosity_threshold,
                "min_tissue_fraction": self.min_tissue_fraction}


_TENSORS: dict[float, Any] = {}


def _one_colour(x: Any, tissue: Any) -> Any:
    """Per tile: its tissue pixels span at most ``ONE_COLOUR_LEVELS`` grey levels per channel.

    The TensorFlow form of :func:`featx.stain._kernels.one_colour`: no stain pair can be
    read from a single colour, so such tiles are faint on both paths.
    """
    import tensorflow as tf

    keep = tf.cast(tissue, tf.bool)[..., None]
    high = tf.reduce_max(tf.where(keep, x, 0), axis=(1, 2))
    low = tf.reduce_min(tf.where(keep, x, 255), axis=(1, 2))
    return tf.reduce_any(tf.reduce_any(keep, axis=3), axis=(1, 2)) & (
        tf.reduce_max(high - low, axis=1) <= ONE_COLOUR_LEVELS)


def _dot3(od: Any, stain: Any) -> Any:
    """``od (..., 3) . stain (3,)`` as element-wise products and sums, in full float32.

    Not an einsum: TensorFlow runs matrix products in TensorFloat-32 on Ampere and
    later GPUs by default (10-bit mantissa), which would move outputs by several grey
    levels; element-wise float32 arithmetic is never rounded that way.
    """
    return od[..., 0] * stain[0] + od[..., 1] * stain[1] + od[..., 2] * stain[2]

__all__ = ["N_PARAMS", "DeviceMacenko", "first_not_faint", "tissue_bits"]
