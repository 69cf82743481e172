"""Macenko stain normalisation, batched over tiles and safe on background.

The algorithm follows staintools 2.1 (``StainNormalizer(method="macenko")``)
step for step, so results can be checked against the library users know:

1. Tissue pixels are those whose LAB luminosity (OpenCV, scaled to 0..1) is
   below ``luminosity_threshold``.
2. Optical density ``OD = max(-log(I / 255), 1e-6)`` with ``I`` clipped to >= 1.
3. The two leading eigenvectors of the tissue pixels' OD covariance span the
   stain plane; the ``100 - angular_percentile`` and ``angular_percentile``
   percentiles of the pixels' angles in that plane give the two stain vectors,
   haematoxylin first (larger red OD), rows scaled to unit length.
4. Concentrations solve the non-negative lasso
   ``min 0.5 ||od - C S||^2 + regularizer * |C|_1, C >= 0`` for every pixel,
   as staintools does through ``spams.lasso(mode=2, pos=True)``; with two stains
   it has a closed form, which we evaluate for all pixels at once.
5. Source concentrations are scaled by the ratio of the target's to the
   source's 99th-percentile concentrations, recombined with the target stain
   matrix and clipped to 0..255 (staintools truncates to uint8 the same way).

Two ways to fit the source side (``mode``):

``"per_tile"``
    Each tile gets its own stain matrix and maximum concentrations, as in
    staintools (the reference behaviour). Covariances, eigenvectors,
    concentrations and the output are computed for the whole batch at once;
    only the two angular percentiles are taken tile by tile.
``"per_slide"``
    :meth:`MacenkoNormalizer.fit_source` fits one stain matrix and one pair of
    maximum concentrations on a sample of the slide's tissue tiles; every tile
    of that slide is then mapped with them. Faster, and steadier on small or
    sparse tiles, because a 224 px tile holds few pixels of pure stain. With the
    source fixed, an output pixel depends only on its input colour, so the
    mapping is memoised in a table over all 2^24 colours (64 MiB, filled on
    demand, dropped by ``fit_source`` and when pickled).

Results match staintools to within a few hundredths of a grey level on
average (single-precision arithmetic; the lasso is solved exactly), see
``tests/test_stain.py``; ``benchmarks/bench_stain.py`` measures the speed-up.

Background and faint tiles never raise and never produce NaN or inf. Each
tile gets a status: ``"ok"``; ``"background"`` (no tissue pixel at all: glass,
an all-white or uniformly light grey tile); ``"faint"`` (tissue below
``min_tissue_fraction`` of the tile, or a degenerate stain estimate).
With ``background="unchanged"`` (the default) flagged tiles are returned
exactly as they came, because an unreliable stain estimate would recolour them
arbitrarily; ``background="normalize"`` maps them with a stain matrix that does
not come from the tile itself (the target's in per-tile mode, the slide's in
per-slide mode).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from featx import __version__
from featx._validate import fraction, one_of, positive_float, rgb_batch
from featx.errors import EmptyTissueError, InvalidParameterError, NotFittedError

__all__ = [
    "STATUS_BACKGROUND",
    "STATUS_FAINT",
    "STATUS_OK",
    "MacenkoNormalizer",
    "macenko_stain_matrix",
    "tissue_mask",
]

#: Tile normalised with its own (per tile) or the slide's (per slide) stains.
STATUS_OK = "ok"
#: No tissue pixel in the tile (glass, white or light grey).
STATUS_BACKGROUND = "background"
#: Too little tissue, or a degenerate stain estimate; see ``min_tissue_fraction``.
STATUS_FAINT = "faint"

_MODES = ("per_tile", "per_slide")
_BACKENDS = ("numpy", "staintools")
_BACKGROUND = ("unchanged", "normalize")
_FORMAT = "featx.stain.macenko/1"
_FILLED = 1 << 24  # colour-table flag: the entry holds a mapped colour
_COLOUR_TABLE_LOCK = threading.Lock()  # pipelines transform from several threads
_BLAS_ROWS = 1 << 15  # row block for tall-skinny matrix products, see _matmul_rows
_CHUNK_PX = 1 << 18  # pixels transformed at once (about five 224 px tiles)
_PARALLEL_COS = float(np.cos(np.radians(1.0)))  # stain vectors closer than 1 degree: degenerate

# OD of every uint8 intensity, exactly as staintools computes it (float64, I >= 1).
_OD_LUT64 = np.maximum(-np.log(np.maximum(np.arange(256), 1) / 255.0), 1e-6)
# Single precision for pixel arrays: twice the speed, and well within the parity tolerance.
_OD_LUT = _OD_LUT64.astype(np.float32)


def tissue_mask(tiles: np.ndarray, *, luminosity_threshold: float = 0.8) -> np.ndarray:
    """Return the tissue pixels of a batch: LAB luminosity below a threshold.

    Parameters
    ----------
    tiles : numpy.ndarray
        uint8 RGB, shape (N, H, W, 3).
    luminosity_threshold : float, keyword-only
        Pixels whose OpenCV LAB ``L / 255`` is below this are tissue.

    Returns
    -------
    numpy.ndarray
        bool, shape (N, H, W).
    """
    import cv2  # OpenCV comes with staintools; its 8-bit LAB is what staintools thresholds

    n, h, w, _ = tiles.shape
    flat = np.ascontiguousarray(tiles).reshape(n * h, w, 3)
    lum = cv2.cvtColor(flat, cv2.COLOR_RGB2LAB)[..., 0]
    # L / 255.0 < t (staintools) holds for exactly the first `first_off` uint8 values of L.
    first_off = int(np.count_nonzero(np.arange(256) / 255.0 < luminosity_threshold))
    return (lum < first_off).reshape(n, h, w) if first_off < 256 else np.ones((n, h, w), bool)


def _percentiles(x: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """``np.percentile(x, qs)`` (linear interpolation) of a 1-D array, exactly, but fast near the ends.

    Macenko only needs extreme percentiles (1, 99). For each, the pixels beyond a
    threshold read off a 1-in-8 subsample are selected and only those are
    partitioned; if too few were selected the full array is partitioned instead.
    """
    n = x.size
    out = np.empty(len(qs))
    step = 8
    sub = x[::step] if n >= 64 * step else None
    for i, q in enumerate(qs):
        pos = q / 100 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        upper = lo >= n // 2
        need = (n - lo) if upper else (hi + 1)  # order statistics counted from the near end
        pair = None
        if sub is not None and need * 4 < n:
            rank = min(sub.size - 1, 2 * need // step + 16)
            if upper:
                thr = np.partition(sub, sub.size - 1 - rank)[sub.size - 1 - rank]
                cand = x[x >= thr]
                if cand.size >= need:
                    off = n - cand.size
                    part = np.partition(cand, [lo - off, hi - off])
                    pair = part[lo - off], part[hi - off]
            else:
                thr = np.partition(sub, rank)[rank]
                cand = x[x <= thr]
                if cand.size >= need:
                    part = np.partition(cand, [lo, hi])
                    pair = part[lo], part[hi]
        if pair is None:
            part = np.partition(x, [lo, hi])
            pair = part[lo], part[hi]
        a, b = float(pair[0]), float(pair[1])
        out[i] = a + (b - a) * frac
    return out


def _stain_matrices(
    od: np.ndarray, mask: np.ndarray, *, angular_percentile: float
) -> tuple[np.ndarray, np.ndarray]:
    """Macenko stain matrices of a batch of OD pixel sets.

    ``od`` is float (N, P, 3), ``mask`` bool (N, P) marks the tissue pixels.
    Returns (stains (N, 2, 3) with unit rows, H first; valid (N,) bool). Rows of
    invalid sets (fewer than 2 tissue pixels, non-finite results, two stains within
    1 degree of each other) are zero.
    """
    n_sets = od.shape[0]
    counts = mask.sum(axis=1)
    valid = counts >= 2
    # Covariance per set as in np.cov(ddof=1), from batched matrix products.
    weights = mask.astype(od.dtype)[:, None, :]  # (N, 1, P)
    sums = np.matmul(weights, od)[:, 0].astype(np.float64)  # (N, 3)
    scatter = np.matmul(od.transpose(0, 2, 1) * weights, od).astype(np.float64)  # (N, 3, 3)
    mean = sums / np.maximum(counts, 1)[:, None]
    cov = scatter - counts[:, None, None] * mean[:, :, None] * mean[:, None, :]
    cov /= np.maximum(counts - 1, 1)[:, None, None]
    valid &= np.isfinite(cov).all(axis=(1, 2))
    cov[~valid] = np.eye(3)
    _, vecs = np.linalg.eigh(cov)
    basis = vecs[:, :, [2, 1]]  # the two principal eigenvectors, as columns
    basis *= np.where(basis[:, 0:1, :] < 0, -1.0, 1.0)  # point them the way staintools does
    lo_hi = np.zeros((n_sets, 2))
    pcts = (100 - angular_percentile, angular_percentile)
    for k in np.flatnonzero(valid):  # a loop over tiles, not pixels: masks differ in size
        proj = _matmul_rows(od[k : k + 1], basis[k].astype(od.dtype))[0]  # (P, 2)
        phi = np.arctan2(proj[:, 1], proj[:, 0])
        lo_hi[k] = _percentiles(phi if counts[k] == phi.size else phi[mask[k]], pcts)
    angles = np.stack([np.cos(lo_hi), np.sin(lo_hi)], axis=-1)  # (N, 2 angles, 2)
    v = np.matmul(angles, basis.transpose(0, 2, 1))  # (N, 2, 3): v1 (min angle), v2 (max angle)
    h_first = v[:, 0, 0] > v[:, 1, 0]
    stains = np.where(h_first[:, None, None], v, v[:, ::-1])
    norms = np.linalg.norm(stains, axis=2, keepdims=True)
    valid &= (norms[:, :, 0] > 0).all(axis=1)
    stains = stains / np.where(norms > 0, norms, 1.0)
    valid &= np.isfinite(stains).all(axis=(1, 2))
    # One colour only (a pen mark, a saturated black tile): both "stains" are the same vector.
    valid &= np.einsum("nj,nj->n", stains[:, 0], stains[:, 1]) < _PARALLEL_COS
    stains[~valid] = 0.0
    return stains, valid


def _matmul_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for tall, skinny ``a`` (N, P, K<=3), in blocks of rows.

    OpenBLAS multiplies a (P, 3) by a (3, 2) matrix hundreds of times slower for
    P of a million than in blocks of 32768 rows (measured: 450 ms against 2 ms).
    """
    n, p = a.shape[:2]
    if p <= _BLAS_ROWS:
        return np.matmul(a, b)
    out = np.empty((n, p, b.shape[-1]), dtype=np.result_type(a, b))
    for start in range(0, p, _BLAS_ROWS):
        rows = slice(start, start + _BLAS_ROWS)
        np.matmul(a[:, rows], b, out=out[:, rows])
    return out


def _concentrations(od: np.ndarray, stains: np.ndarray, regularizer: float) -> np.ndarray:
    """Non-negative lasso concentrations of every pixel, in closed form.

    Solves ``min_c 0.5 ||od - c S||^2 + regularizer * sum(c)`` with ``c >= 0``
    (spams.lasso mode 2, pos=True) for two unit-norm stains: od (N, P, 3),
    stains (N, 2, 3) -> (N, P, 2).

    With ``g = s1 . s2`` and ``b = S od - regularizer``, the unconstrained
    optimum is ``t / (1 - g^2)`` with ``t1 = b1 - g b2``, ``t2 = b2 - g b1``.
    The KKT conditions of the strictly convex problem pick the active set:
    ``t2 <= 0`` means stain 2 is off and ``c1 = max(b1, 0)``; else
    ``c1 = max(t1, 0) / (1 - g^2)``; symmetrically for ``c2``.
    """
    stains = stains.astype(od.dtype)
    g = np.einsum("nj,nj->n", stains[:, 0], stains[:, 1])[:, None]
    det = 1 - g * g
    inv_det = np.where(det > 1e-6, 1 / np.where(det > 1e-6, det, 1), 0)  # parallel: one stain
    b = _matmul_rows(od, np.ascontiguousarray(stains.transpose(0, 2, 1)))  # (N, P, 2)
    b -= regularizer
    b1, b2 = b[..., 0], b[..., 1]
    t1 = b1 - g * b2
    t2 = b2 - g * b1
    out = np.empty_like(b)
    out[..., 0] = np.where(t2 <= 0, np.maximum(b1, 0), np.maximum(t1, 0) * inv_det)
    out[..., 1] = np.where(t1 <= 0, np.maximum(b2, 0), np.maximum(t2, 0) * inv_det)
    return out


def _max_concentrations(conc: np.ndarray) -> np.ndarray:
    """99th percentile of each stain's concentration over each set's pixels: (N, P, 2) -> (N, 2)."""
    out = np.empty(conc.shape[::2])
    for k in range(conc.shape[0]):
        for j in range(2):
            out[k, j] = _percentiles(conc[k, :, j], (99,))[0]
    return out


def macenko_stain_matrix(
    image: np.ndarray, *, luminosity_threshold: float = 0.8, angular_percentile: float = 99
) -> np.ndarray:
    """Estimate the Macenko stain matrix of one image or of a pooled batch.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 RGB, (H, W, 3) or (N, H, W, 3); a batch is treated as one image.
    luminosity_threshold : float, keyword-only
        Tissue is LAB luminosity below this (0..1).
    angular_percentile : float, keyword-only
        Percentile of the angles that gives the extreme stain vectors (50..100).

    Returns
    -------
    numpy.ndarray
        float64 (2, 3): unit OD vectors, haematoxylin first.

    Raises
    ------
    EmptyTissueError
        If the image has fewer than two tissue pixels.
    """
    batch = _as_batch("image", image)
    mask = tissue_mask(batch, luminosity_threshold=luminosity_threshold).reshape(1, -1)
    od = _OD_LUT[batch].reshape(1, -1, 3)
    stains, valid = _stain_matrices(od, mask, angular_percentile=angular_percentile)
    if not valid[0]:
        raise EmptyTissueError("image", int(mask.sum()), luminosity_threshold)
    return stains[0]


def _as_batch(name: str, image: object) -> np.ndarray:
    """Accept one (H, W, 3) image or an (N, H, W, 3) batch of uint8 RGB."""
    if isinstance(image, np.ndarray) and image.ndim == 3:
        image = image[None]
    batch = rgb_batch(name, image)
    if batch.size == 0:
        raise InvalidParameterError(name, "a non-empty uint8 RGB image or batch", batch.shape)
    return batch


def _fit_pooled(
    name: str,
    batch: np.ndarray,
    *,
    luminosity_threshold: float = 0.8,
    angular_percentile: float = 99,
    regularizer: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Stain matrix, 99th-percentile concentrations and tissue pixel count of a pooled batch."""
    mask = tissue_mask(batch, luminosity_threshold=luminosity_threshold).reshape(1, -1)
    od = _OD_LUT[batch].reshape(1, -1, 3)
    n_tissue = int(mask.sum())
    stains, valid = _stain_matrices(od, mask, angular_percentile=angular_percentile)
    if not valid[0]:
        raise EmptyTissueError(name, n_tissue, luminosity_threshold)
    # Concentrations chunk by chunk into one array: cache-sized temporaries, same result.
    conc = np.empty(od.shape[:2] + (2,), dtype=od.dtype)
    for start in range(0, od.shape[1], _CHUNK_PX):
        part = slice(start, start + _CHUNK_PX)
        conc[:, part] = _concentrations(od[:, part], stains, regularizer)
    max_conc = _max_concentrations(conc)[0]
    if not (np.all(max_conc > 0) and np.all(np.isfinite(max_conc))):
        raise EmptyTissueError(name, n_tissue, luminosity_threshold)
    return stains[0], max_conc, n_tissue


def _distinct_unfilled(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Distinct values of ``keys``, all unfilled colours of ``table``, without sorting.

    Each key's table slot briefly holds the position (+1) of the last occurrence
    written to it; the positions that read back their own number are one per
    colour. The slots are all filled right after, so the marks never persist.
    """
    if keys.size >= _FILLED:  # a single tile of 16 megapixels or more
        return np.unique(keys)
    order = np.arange(1, keys.size + 1, dtype="<u4")  # < 2^24: never looks filled
    table[keys] = order
    return keys[table[keys] == order]


class MacenkoNormalizer(TransformerMixin, BaseEstimator):
    """Macenko stain normaliser for batches of uint8 RGB tiles.

    Parameters
    ----------
    mode : {"per_tile", "per_slide"}, keyword-only
        ``"per_tile"`` fits every tile's own stains (staintools' behaviour);
        ``"per_slide"`` uses the stains fitted by :meth:`fit_source` on a sample
        of one slide's tiles for all of them.
    backend : {"numpy", "staintools"}, keyword-only
        ``"numpy"`` is the batched implementation here; ``"staintools"`` calls
        ``staintools.StainNormalizer(method="macenko")`` tile by tile, to check
        results against it (per-tile mode only; slow).
    luminosity_threshold : float, keyword-only
        Tissue pixels have OpenCV LAB luminosity / 255 below this.
    angular_percentile : float, keyword-only
        Percentile of the pixels' stain-plane angles taken as the extreme stains.
    regularizer : float, keyword-only
        L1 weight of the non-negative lasso that gives concentrations
        (staintools' 0.01).
    min_tissue_fraction : float, keyword-only
        Tiles with a smaller fraction of tissue pixels are flagged ``"faint"``;
        0 flags only tiles with no usable tissue (staintools' own rule).
    background : {"unchanged", "normalize"}, keyword-only
        What happens to tiles flagged ``"background"`` or ``"faint"``:
        returned as they came, or mapped with a stain matrix not taken from the
        tile (the target's per tile, the slide's per slide).

    Attributes
    ----------
    stain_matrix_target_ : numpy.ndarray
        (2, 3) unit OD vectors of the target, haematoxylin first.
    max_concentrations_target_ : numpy.ndarray
        (2,) 99th percentiles of the target's concentrations.
    target_sha256_ : str
        Hash of the target pixels, to tell fits apart.
    stain_matrix_source_ : numpy.ndarray
        (2, 3), set by :meth:`fit_source` (per-slide mode).
    max_concentrations_source_ : numpy.ndarray
        (2,), set by :meth:`fit_source`.

    Examples
    --------
    >>> norm = MacenkoNormalizer().fit(target_rgb)               # doctest: +SKIP
    >>> out, status = norm.transform_with_status(tiles)          # doctest: +SKIP
    >>> norm.save("stain_target.json")                           # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        mode: str = "per_tile",
        backend: str = "numpy",
        luminosity_threshold: float = 0.8,
        angular_percentile: float = 99,
        regularizer: float = 0.01,
        min_tissue_fraction: float = 0.02,
        background: str = "unchanged",
    ) -> None:
        self.mode = mode
        self.backend = backend
        self.luminosity_threshold = luminosity_threshold
        self.angular_percentile = angular_percentile
        self.regularizer = regularizer
        self.min_tissue_fraction = min_tissue_fraction
        self.background = background

    # -- fitting ---------------------------------------------------------------------------

    def _check_params(self) -> None:
        one_of("mode", self.mode, _MODES)
        one_of("backend", self.backend, _BACKENDS)
        one_of("background", self.background, _BACKGROUND)
        fraction("luminosity_threshold", self.luminosity_threshold)
        fraction("min_tissue_fraction", self.min_tissue_fraction)
        positive_float("regularizer", self.regularizer)
        pct = positive_float("angular_percentile", self.angular_percentile)
        if not 50 < pct <= 100:
            raise InvalidParameterError("angular_percentile", "a number in (50, 100]", pct)
        if self.backend == "staintools" and (
            self.luminosity_threshold, self.angular_percentile, self.regularizer
        ) != (0.8, 99, 0.01):
            raise InvalidParameterError(
                "backend", "'numpy' for non-default luminosity_threshold, angular_percentile "
                "or regularizer (staintools' StainNormalizer fixes them at 0.8, 99, 0.01)",
                self.backend,
            )
        if self.backend == "staintools" and self.mode == "per_slide":
            raise InvalidParameterError(
                "mode", "'per_tile' with backend='staintools' (staintools fits every image "
                "on its own); use backend='numpy' for per-slide mode", self.mode,
            )

    def _pooled(self, name: str, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        return _fit_pooled(
            name, batch, luminosity_threshold=self.luminosity_threshold,
            angular_percentile=self.angular_percentile, regularizer=self.regularizer,
        )

    def fit(self, target: np.ndarray, y: object = None) -> MacenkoNormalizer:
        """Fit the target stains on one image or on a batch of tiles pooled together.

        Parameters
        ----------
        target : numpy.ndarray
            uint8 RGB, (H, W, 3) or (N, H, W, 3).
        y : ignored

        Returns
        -------
        MacenkoNormalizer
            self.

        Raises
        ------
        EmptyTissueError
            If the target has no usable tissue.
        """
        self._check_params()
        batch = _as_batch("target", target)
        if self.backend == "staintools":
            self._staintools_ = _staintools_normalizer(batch)
            stains = self._staintools_.stain_matrix_target
            max_conc = self._staintools_.maxC_target.reshape(2)
        else:
            stains, max_conc, _ = self._pooled("target", batch)
        self.stain_matrix_target_ = np.asarray(stains, dtype=np.float64)
        self.max_concentrations_target_ = np.asarray(max_conc, dtype=np.float64)
        self.target_sha256_ = hashlib.sha256(np.ascontiguousarray(batch).tobytes()).hexdigest()
        for attr in (
            "stain_matrix_source_", "max_concentrations_source_", "source_info_", "_colour_table"
        ):
            self.__dict__.pop(attr, None)
        return self

    def fit_source(self, sample_tiles: np.ndarray) -> MacenkoNormalizer:
        """Fit one slide's source stains on a sample of its tiles (per-slide mode).

        Call it once per slide, before :meth:`transform` of that slide's tiles;
        a later call replaces the previous slide's fit.

        Parameters
        ----------
        sample_tiles : numpy.ndarray
            uint8 RGB (N, H, W, 3): a sample of the slide's tissue tiles
            (a few dozen spread over the slide are plenty), pooled together.

        Returns
        -------
        MacenkoNormalizer
            self.

        Raises
        ------
        EmptyTissueError
            If the sample has no usable tissue.
        """
        self._require_fitted()
        if self.mode != "per_slide":
            raise InvalidParameterError(
                "mode", "'per_slide' to use fit_source (per-tile mode fits every tile "
                "itself); create MacenkoNormalizer(mode='per_slide')", self.mode,
            )
        batch = _as_batch("sample_tiles", sample_tiles)
        stains, max_conc, n_tissue = self._pooled("sample_tiles", batch)
        self.stain_matrix_source_ = stains
        self.max_concentrations_source_ = max_conc
        self.source_info_ = {"n_tiles": int(batch.shape[0]), "n_tissue_px": n_tissue}
        self.__dict__.pop("_colour_table", None)  # the old slide's colour map
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "stain_matrix_target_"):
            raise NotFittedError(
                "MacenkoNormalizer", "call fit(target_image) or MacenkoNormalizer.load(path) first"
            )

    # -- transforming ----------------------------------------------------------------------

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        """Normalise a batch of tiles; flagged tiles follow ``background``.

        Parameters
        ----------
        tiles : numpy.ndarray
            uint8 RGB, (N, H, W, 3).

        Returns
        -------
        numpy.ndarray
            uint8, same shape.
        """
        return self.transform_with_status(tiles)[0]

    def transform_with_status(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalise a batch of tiles and say, per tile, what happened.

        Parameters
        ----------
        tiles : numpy.ndarray
            uint8 RGB, (N, H, W, 3).

        Returns
        -------
        normalised : numpy.ndarray
            uint8, same shape as ``tiles``.
        status : numpy.ndarray
            str (N,): ``"ok"``, ``"background"`` or ``"faint"`` (module docs).
        """
        self._require_fitted()
        self._check_params()  # set_params may have changed them since fit
        tiles = rgb_batch("tiles", tiles)
        if self.mode == "per_slide" and not hasattr(self, "stain_matrix_source_"):
            raise NotFittedError(
                "MacenkoNormalizer(mode='per_slide')",
                "call fit_source(sample_of_this_slides_tiles) before transform",
            )
        n = tiles.shape[0]
        if n == 0 or tiles.shape[1] * tiles.shape[2] == 0:
            return tiles.copy(), np.full(n, STATUS_OK, dtype="<U10")
        # A few tiles at a time keep the float temporaries in cache: about twice as fast
        # as one pass over a batch of 64, and memory stays bounded for any batch size.
        step = max(1, _CHUNK_PX // (tiles.shape[1] * tiles.shape[2]))
        parts = [self._transform_chunk(tiles[i : i + step]) for i in range(0, n, step)]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _transform_chunk(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.mode == "per_slide" and self.backend == "numpy":
            return self._transform_per_slide(tiles)
        n = tiles.shape[0]
        status = np.full(n, STATUS_OK, dtype="<U10")
        out = tiles.copy()
        mask = tissue_mask(tiles, luminosity_threshold=self.luminosity_threshold)
        frac = mask.reshape(n, -1).mean(axis=1)
        status[frac < self.min_tissue_fraction] = STATUS_FAINT
        status[frac == 0] = STATUS_BACKGROUND
        if self.backend == "staintools":
            self._transform_staintools(tiles, out, status)
        else:
            self._transform_per_tile(tiles, mask, out, status)
        return out, status

    def _apply(
        self, od: np.ndarray, stains: np.ndarray, max_source: np.ndarray
    ) -> np.ndarray:
        """Map OD (N, P, 3) with source stains (N, 2, 3) and maxima (N, 2) to uint8 (N, P, 3)."""
        return self._scale_and_mix(_concentrations(od, stains, self.regularizer), max_source)

    def _scale_and_mix(self, conc: np.ndarray, max_source: np.ndarray) -> np.ndarray:
        """Scale concentrations (N, P, 2) to the target's maxima and recombine to uint8 RGB."""
        scale = (self.max_concentrations_target_ / max_source).astype(conc.dtype)
        rgb = _matmul_rows(conc * scale[:, None, :], -self.stain_matrix_target_.astype(conc.dtype))
        rgb = 255.0 * np.exp(rgb, out=rgb)
        return np.clip(rgb, 0, 255).astype(np.uint8)  # truncates, as staintools does

    def _transform_per_tile(
        self, tiles: np.ndarray, mask: np.ndarray, out: np.ndarray, status: np.ndarray
    ) -> None:
        todo = np.flatnonzero(status == STATUS_OK)
        if todo.size:
            od = _OD_LUT[tiles[todo]].reshape(todo.size, -1, 3)
            stains, valid = _stain_matrices(
                od, mask[todo].reshape(todo.size, -1), angular_percentile=self.angular_percentile
            )
            conc = _concentrations(od, stains, self.regularizer)
            max_source = _max_concentrations(conc)
            valid &= np.all(max_source > 0, axis=1) & np.all(np.isfinite(max_source), axis=1)
            status[todo[~valid]] = STATUS_FAINT
            keep = np.flatnonzero(valid)
            if keep.size:
                mapped = self._scale_and_mix(conc[keep], max_source[keep])
                out[todo[keep]] = mapped.reshape((keep.size,) + tiles.shape[1:])
        if self.background == "normalize":
            self._normalize_flagged(tiles, out, status)

    def _normalize_flagged(self, tiles: np.ndarray, out: np.ndarray, status: np.ndarray) -> None:
        """Map flagged tiles with the target's own stains (``background="normalize"``)."""
        flagged = np.flatnonzero(status != STATUS_OK)
        if flagged.size == 0:
            return
        od = _OD_LUT[tiles[flagged]].reshape(flagged.size, -1, 3)
        stains = np.broadcast_to(self.stain_matrix_target_, (flagged.size, 2, 3))
        maxima = np.broadcast_to(self.max_concentrations_target_, (flagged.size, 2))
        out[flagged] = self._apply(od, stains, maxima).reshape((flagged.size,) + tiles.shape[1:])

    def _transform_per_slide(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-slide mode: one source fit maps every colour the same way, so memoise it.

        With the source stains fixed, each output pixel depends only on its input
        colour. A table over all 2^24 colours (64 MiB, filled on demand, reset by
        :meth:`fit_source`) holds the mapped colour and the tissue bit, so a tile
        costs two memory passes once the slide's palette has been seen.
        """
        n = tiles.shape[0]
        packed = np.zeros(tiles.shape[:3] + (4,), dtype=np.uint8)
        packed[..., :3] = tiles
        keys = packed.view("<u4")[..., 0]  # r | g << 8 | b << 16 on every platform
        table = self.__dict__.get("_colour_table")
        values = None if table is None else table[keys]
        if values is None or (values < _FILLED).any():
            # Filling marks slots in place (see _distinct_unfilled): one writer at a time.
            # Readers need no lock: a slot >= _FILLED always holds its final colour.
            with _COLOUR_TABLE_LOCK:
                table = self.__dict__.get("_colour_table")
                if table is None:
                    table = self._colour_table = np.zeros(1 << 24, dtype="<u4")
                values = table[keys]
                missing = values < _FILLED
                if missing.any():
                    self._fill_colour_table(table, _distinct_unfilled(table, keys[missing]))
                    values = table[keys]
        frac = ((values >> 25) & 1).reshape(n, -1).mean(axis=1)
        status = np.full(n, STATUS_OK, dtype="<U10")
        status[frac < self.min_tissue_fraction] = STATUS_FAINT
        status[frac == 0] = STATUS_BACKGROUND
        mapped = values.view(np.uint8).reshape(tiles.shape[:3] + (4,))[..., :3]
        if self.background == "normalize":
            return np.ascontiguousarray(mapped), status
        out = tiles.copy()
        rows = np.flatnonzero(status == STATUS_OK)
        out[rows] = mapped[rows]
        return out, status

    def _fill_colour_table(self, table: np.ndarray, keys: np.ndarray) -> None:
        """Map the colours ``keys`` (packed r | g << 8 | b << 16) and store them in ``table``."""
        for start in range(0, keys.size, 1 << 20):  # bounded temporaries
            chunk = keys[start : start + (1 << 20)]
            rgb = np.stack([chunk & 255, (chunk >> 8) & 255, chunk >> 16], axis=-1)
            rgb = rgb.astype(np.uint8).reshape(1, 1, -1, 3)
            tissue = tissue_mask(rgb, luminosity_threshold=self.luminosity_threshold).reshape(-1)
            mapped = self._apply(
                _OD_LUT[rgb].reshape(1, -1, 3),
                self.stain_matrix_source_[None],
                self.max_concentrations_source_[None],
            )[0].astype("<u4")
            flags = (1 | (tissue.astype("<u4") << 1)) << 24  # bit 24: filled; bit 25: tissue
            table[chunk] = mapped[:, 0] | (mapped[:, 1] << 8) | (mapped[:, 2] << 16) | flags

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_colour_table", None)  # a cache; never ship 64 MiB to a worker
        return state

    def _transform_staintools(
        self, tiles: np.ndarray, out: np.ndarray, status: np.ndarray
    ) -> None:
        """Reference path: staintools on every tile; its failures become flags."""
        from staintools.miscellaneous.exceptions import TissueMaskException

        for k in range(tiles.shape[0]):
            if status[k] != STATUS_OK:
                continue
            try:
                with np.errstate(all="ignore"):
                    result = self._staintools_.transform(tiles[k].copy())  # it edits its input
            except (TissueMaskException, np.linalg.LinAlgError, ValueError):
                status[k] = STATUS_FAINT
                continue
            out[k] = result
        if self.background == "normalize":
            self._normalize_flagged(tiles, out, status)

    # -- state -----------------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable record of this fit, to store beside every embedding it touched."""
        self._require_fitted()
        cfg: dict[str, Any] = {
            "format": _FORMAT,
            "method": "macenko",
            "featx_version": __version__,
            "params": self.get_params(),
            "stain_matrix_target": self.stain_matrix_target_.tolist(),
            "max_concentrations_target": self.max_concentrations_target_.tolist(),
            "target_sha256": self.target_sha256_,
        }
        if hasattr(self, "stain_matrix_source_"):
            cfg["stain_matrix_source"] = self.stain_matrix_source_.tolist()
            cfg["max_concentrations_source"] = self.max_concentrations_source_.tolist()
            cfg["source_info"] = dict(self.source_info_)
        return cfg

    def to_json(self) -> str:
        """Return :attr:`config` as a JSON string."""
        return json.dumps(self.config, indent=2)

    def save(self, path: str | Path) -> Path:
        """Write the fitted state to a small JSON file; returns its path."""
        from featx.atomic import atomic_path

        text = self.to_json()
        with atomic_path(path) as tmp:  # a crash never leaves half a file
            tmp.write_text(text)
        return Path(path)

    @classmethod
    def from_json(cls, text: str) -> MacenkoNormalizer:
        """Rebuild a fitted normaliser from :meth:`to_json` output."""
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidParameterError(
                "text", "JSON written by MacenkoNormalizer.to_json", str(error)
            ) from None
        if not isinstance(cfg, dict) or cfg.get("format") != _FORMAT:
            got = cfg.get("format") if isinstance(cfg, dict) else type(cfg).__name__
            raise InvalidParameterError("text", f"a stain fit in format {_FORMAT!r}", got)
        params = dict(cfg["params"])
        if params.get("backend") == "staintools":
            params["backend"] = "numpy"  # the saved matrices are all the numpy path needs
        norm = cls(**params)
        norm._check_params()
        norm.stain_matrix_target_ = _matrix(cfg, "stain_matrix_target", (2, 3))
        norm.max_concentrations_target_ = _matrix(cfg, "max_concentrations_target", (2,))
        norm.target_sha256_ = str(cfg.get("target_sha256", ""))
        if "stain_matrix_source" in cfg:
            norm.stain_matrix_source_ = _matrix(cfg, "stain_matrix_source", (2, 3))
            norm.max_concentrations_source_ = _matrix(cfg, "max_concentrations_source", (2,))
            norm.source_info_ = dict(cfg.get("source_info", {}))
        return norm

    @classmethod
    def load(cls, path: str | Path) -> MacenkoNormalizer:
        """Read a normaliser written by :meth:`save`."""
        return cls.from_json(Path(path).read_text())


def _matrix(cfg: dict[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    value = np.asarray(cfg.get(key), dtype=np.float64)
    if value.shape != shape or not np.all(np.isfinite(value)):
        raise InvalidParameterError(key, f"finite numbers of shape {shape}", cfg.get(key))
    return value


def _staintools_normalizer(target: np.ndarray) -> Any:
    """staintools' own Macenko normaliser fitted on a target (a batch becomes one mosaic)."""
    import staintools
    from staintools.miscellaneous.exceptions import TissueMaskException

    image = target[0] if target.shape[0] == 1 else target.reshape(-1, target.shape[2], 3)
    norm = staintools.StainNormalizer(method="macenko")
    try:
        norm.fit(image.copy())
    except TissueMaskException:
        raise EmptyTissueError("target", 0, 0.8) from None
    return norm
