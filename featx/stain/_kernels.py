"""The Macenko kernels, batched over tiles: tissue pixels, stain matrices, concentrations.

Step for step what staintools 2.1 (``StainNormalizer(method="macenko")``) computes:

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

Covariances, eigenvectors, concentrations and the output are computed for a whole
batch of tiles at once; only the two angular percentiles are taken tile by tile.
"""

from __future__ import annotations

import numpy as np

from featx._validate import rgb_batch
from featx.errors import EmptyTissueError, InvalidParameterError

BLAS_ROWS = 1 << 15  # row block for tall-skinny matrix products, see matmul_rows
CHUNK_PX = 1 << 18  # pixels transformed at once (about five 224 px tiles)
PARALLEL_COS = float(np.cos(np.radians(1.0)))  # stain vectors closer than 1 degree: degenerate

#: OD of every uint8 intensity, exactly as staintools computes it (float64, I >= 1).
OD_LUT64 = np.maximum(-np.log(np.maximum(np.arange(256), 1) / 255.0), 1e-6)
#: Single precision for pixel arrays: twice the speed, and well within the parity tolerance.
OD_LUT = OD_LUT64.astype(np.float32)


def tissue_pixels(tiles: np.ndarray, *, luminosity_threshold: float = 0.8) -> np.ndarray:
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


#: Tissue whose pixels span at most this many grey levels in every channel is one colour.
ONE_COLOUR_LEVELS = 2
#: Every this-many-th pixel is looked at first by :func:`one_colour` (about 1,600 of a 224 px tile).
ONE_COLOUR_STEP = 32


def one_colour(tiles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whether each tile's tissue pixels are (nearly) a single colour, per tile (N,) bool.

    Exact, but cheap on real tissue: the spread of a sample of pixels is a lower bound
    of the tile's, so a sample that already spans more than ``ONE_COLOUR_LEVELS`` settles
    the tile; only the rest (one-colour tiles, tissue the sample missed) are read whole.

    Parameters
    ----------
    tiles : numpy.ndarray
        uint8 (N, H, W, 3).
    mask : numpy.ndarray
        bool (N, H, W), the tissue pixels.
    """
    n = tiles.shape[0]
    flat, keep = tiles.reshape(n, -1, 3), mask.reshape(n, -1)
    spread = _tissue_spread(flat[:, ::ONE_COLOUR_STEP], keep[:, ::ONE_COLOUR_STEP])
    unsure = np.flatnonzero(spread <= ONE_COLOUR_LEVELS)
    if unsure.size:
        spread[unsure] = _tissue_spread(flat[unsure], keep[unsure])
    return (spread >= 0) & (spread <= ONE_COLOUR_LEVELS)  # < 0: no tissue pixel at all


def _tissue_spread(pixels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Largest per-channel range of the kept pixels (N, P, 3) per set; -255 with none kept."""
    high = np.where(keep[..., None], pixels, 0).max(axis=1)
    low = np.where(keep[..., None], pixels, 255).min(axis=1)
    return (high.astype(np.int16) - low).max(axis=1)


def percentiles(x: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
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


def stain_matrices(
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
        proj = matmul_rows(od[k : k + 1], basis[k].astype(od.dtype))[0]  # (P, 2)
        phi = np.arctan2(proj[:, 1], proj[:, 0])
        lo_hi[k] = percentiles(phi if counts[k] == phi.size else phi[mask[k]], pcts)
    angles = np.stack([np.cos(lo_hi), np.sin(lo_hi)], axis=-1)  # (N, 2 angles, 2)
    v = np.matmul(angles, basis.transpose(0, 2, 1))  # (N, 2, 3): v1 (min angle), v2 (max angle)
    h_first = v[:, 0, 0] > v[:, 1, 0]
    stains = np.where(h_first[:, None, None], v, v[:, ::-1])
    norms = np.linalg.norm(stains, axis=2, keepdims=True)
    valid &= (norms[:, :, 0] > 0).all(axis=1)
    stains = stains / np.where(norms > 0, norms, 1.0)
    valid &= np.isfinite(stains).all(axis=(1, 2))
    # One colour only (a pen mark, a saturated black tile): both "stains" are the same vector.
    valid &= np.einsum("nj,nj->n", stains[:, 0], stains[:, 1]) < PARALLEL_COS
    stains[~valid] = 0.0
    return stains, valid


def matmul_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for tall, skinny ``a`` (N, P, K<=3), in blocks of rows.

    OpenBLAS multiplies a (P, 3) by a (3, 2) matrix hundreds of times slower for
    P of a million than in blocks of 32768 rows (measured: 450 ms against 2 ms).
    """
    n, p = a.shape[:2]
    if p <= BLAS_ROWS:
        return np.matmul(a, b)
    out = np.empty((n, p, b.shape[-1]), dtype=np.result_type(a, b))
    for start in range(0, p, BLAS_ROWS):
        rows = slice(start, start + BLAS_ROWS)
        np.matmul(a[:, rows], b, out=out[:, rows])
    return out


def concentrations(od: np.ndarray, stains: np.ndarray, regularizer: float) -> np.ndarray:
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
    b = matmul_rows(od, np.ascontiguousarray(stains.transpose(0, 2, 1)))  # (N, P, 2)
    b -= regularizer
    b1, b2 = b[..., 0], b[..., 1]
    t1 = b1 - g * b2
    t2 = b2 - g * b1
    out = np.empty_like(b)
    out[..., 0] = np.where(t2 <= 0, np.maximum(b1, 0), np.maximum(t1, 0) * inv_det)
    out[..., 1] = np.where(t1 <= 0, np.maximum(b2, 0), np.maximum(t2, 0) * inv_det)
    return out


def max_concentrations(conc: np.ndarray) -> np.ndarray:
    """99th percentile of each stain's concentration over each set's pixels: (N, P, 2) -> (N, 2)."""
    out = np.empty(conc.shape[::2])
    for k in range(conc.shape[0]):
        for j in range(2):
            out[k, j] = percentiles(conc[k, :, j], (99,))[0]
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
    batch = as_batch("image", image)
    mask = tissue_pixels(batch, luminosity_threshold=luminosity_threshold).reshape(1, -1)
    od = OD_LUT[batch].reshape(1, -1, 3)
    stains, valid = stain_matrices(od, mask, angular_percentile=angular_percentile)
    if not valid[0]:
        raise EmptyTissueError("image", int(mask.sum()), luminosity_threshold)
    return stains[0]


def as_batch(name: str, image: object) -> np.ndarray:
    """Accept one (H, W, 3) image or an (N, H, W, 3) batch of uint8 RGB."""
    if isinstance(image, np.ndarray) and image.ndim == 3:
        image = image[None]
    batch = rgb_batch(name, image)
    if batch.size == 0:
        raise InvalidParameterError(name, "a non-empty uint8 RGB image or batch", batch.shape)
    return batch


def fit_pooled(
    name: str,
    batch: np.ndarray,
    *,
    luminosity_threshold: float = 0.8,
    angular_percentile: float = 99,
    regularizer: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Stain matrix, 99th-percentile concentrations and tissue pixel count of a pooled batch."""
    mask = tissue_pixels(batch, luminosity_threshold=luminosity_threshold).reshape(1, -1)
    od = OD_LUT[batch].reshape(1, -1, 3)
    n_tissue = int(mask.sum())
    stains, valid = stain_matrices(od, mask, angular_percentile=angular_percentile)
    if not valid[0]:
        raise EmptyTissueError(name, n_tissue, luminosity_threshold)
    # Concentrations chunk by chunk into one array: cache-sized temporaries, same result.
    conc = np.empty(od.shape[:2] + (2,), dtype=od.dtype)
    for start in range(0, od.shape[1], CHUNK_PX):
        part = slice(start, start + CHUNK_PX)
        conc[:, part] = concentrations(od[:, part], stains, regularizer)
    max_conc = max_concentrations(conc)[0]
    if not (np.all(max_conc > 0) and np.all(np.isfinite(max_conc))):
        raise EmptyTissueError(name, n_tissue, luminosity_threshold)
    return stains[0], max_conc, n_tissue

