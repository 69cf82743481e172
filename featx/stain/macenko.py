"""Macenko stain normalisation, batched over tiles and safe on background.

The algorithm follows staintools 2.1 (``StainNormalizer(method="macenko")``)
step for step (the five steps and their batched kernels are in
:mod:`featx.stain._kernels`), so results can be checked against the library users
know.

Two ways to fit the source side (``mode``):

``"per_tile"``
    Each tile gets its own stain matrix and maximum concentrations, as in
    staintools (the reference behaviour), computed for a whole batch at once.
``"per_slide"``
    :meth:`MacenkoNormalizer.fit_source` fits one stain matrix and one pair of
    maximum concentrations on a sample of the slide's tissue tiles; every tile
    of that slide is then mapped with them. Faster, and steadier on small or
    sparse tiles, because a 224 px tile holds few pixels of pure stain. With the
    source fixed, an output pixel depends only on its input colour, so the
    mapping is memoised (:mod:`featx.stain.colour_table`).

Results match staintools to within a few hundredths of a grey level on
average (single-precision arithmetic; the lasso is solved exactly), see
``tests/stain/test_macenko.py``; ``benchmarks/bench_stain.py`` measures the speed-up.

Background and faint tiles never raise and never produce NaN or inf. Each
tile gets a status: ``"ok"``; ``"background"`` (no tissue pixel at all: glass,
an all-white or uniformly light grey tile); ``"faint"`` (tissue below
``min_tissue_fraction`` of the tile, tissue of one colour only, such as a pure
black or pure red tile, or a degenerate stain estimate). Both modes flag the same
one-colour tiles: no stain pair can be read from a single colour.
With ``background="unchanged"`` (the default) flagged tiles are returned
exactly as they came, because an unreliable stain estimate would recolour them
arbitrarily; ``background="normalize"`` maps them with a stain matrix that does
not come from the tile itself (the target's in per-tile mode, the slide's in
per-slide mode).

(This module passes 450 lines because it holds one estimator whole, with its
numpydoc; its kernels, colour table and staintools backend are modules of their own.)
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
from featx._io import write_text
from featx._validate import fraction, one_of, positive_float, rgb_batch
from featx.errors import InvalidParameterError, NotFittedError
from featx.stain._kernels import (
    CHUNK_PX,
    OD_LUT,
    as_batch,
    concentrations,
    fit_pooled,
    macenko_stain_matrix,
    matmul_rows,
    max_concentrations,
    one_colour,
    stain_matrices,
    tissue_pixels,
)
from featx.stain.colour_table import ColourTable
from featx.stain.staintools_backend import staintools_normalizer, transform_tiles

__all__ = [
    "STATUS_BACKGROUND",
    "STATUS_FAINT",
    "STATUS_OK",
    "MacenkoNormalizer",
    "macenko_stain_matrix",
    "tissue_pixels",
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
_TABLE_LOCK = threading.Lock()


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
        return fit_pooled(
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
        batch = as_batch("target", target)
        if self.backend == "staintools":
            self._staintools_ = staintools_normalizer(batch)
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
        batch = as_batch("sample_tiles", sample_tiles)
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
        step = max(1, CHUNK_PX // (tiles.shape[1] * tiles.shape[2]))
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
        mask = tissue_pixels(tiles, luminosity_threshold=self.luminosity_threshold)
        frac = mask.reshape(n, -1).mean(axis=1)
        # The staintools reference keeps its own behaviour (it maps one flat colour).
        flat = one_colour(tiles, mask) if self.backend == "numpy" else False
        status[(frac < self.min_tissue_fraction) | flat] = STATUS_FAINT
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
        return self._scale_and_mix(concentrations(od, stains, self.regularizer), max_source)

    def _scale_and_mix(self, conc: np.ndarray, max_source: np.ndarray) -> np.ndarray:
        """Scale concentrations (N, P, 2) to the target's maxima and recombine to uint8 RGB."""
        scale = (self.max_concentrations_target_ / max_source).astype(conc.dtype)
        rgb = matmul_rows(conc * scale[:, None, :], -self.stain_matrix_target_.astype(conc.dtype))
        rgb = 255.0 * np.exp(rgb, out=rgb)
        return np.clip(rgb, 0, 255).astype(np.uint8)  # truncates, as staintools does

    def _transform_per_tile(
        self, tiles: np.ndarray, mask: np.ndarray, out: np.ndarray, status: np.ndarray
    ) -> None:
        todo = np.flatnonzero(status == STATUS_OK)
        if todo.size:
            od = OD_LUT[tiles[todo]].reshape(todo.size, -1, 3)
            stains, valid = stain_matrices(
                od, mask[todo].reshape(todo.size, -1), angular_percentile=self.angular_percentile
            )
            conc = concentrations(od, stains, self.regularizer)
            max_source = max_concentrations(conc)
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
        od = OD_LUT[tiles[flagged]].reshape(flagged.size, -1, 3)
        stains = np.broadcast_to(self.stain_matrix_target_, (flagged.size, 2, 3))
        maxima = np.broadcast_to(self.max_concentrations_target_, (flagged.size, 2))
        out[flagged] = self._apply(od, stains, maxima).reshape((flagged.size,) + tiles.shape[1:])

    def _transform_per_slide(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-slide mode: one source fit maps every colour the same way, so memoise it.

        The :class:`~featx.stain.colour_table.ColourTable` (64 MiB, filled on demand,
        dropped by :meth:`fit_source` and when pickled) holds each colour's mapping.
        """
        with _TABLE_LOCK:  # transform may run in several threads; one table per fit
            table = self.__dict__.get("_colour_table")
            if table is None:
                table = self._colour_table = ColourTable(self._map_colours)
        mapped, tissue = table.lookup(tiles)
        n = tiles.shape[0]
        frac = np.count_nonzero(tissue.reshape(n, -1), axis=1) / tissue[0].size
        status = np.full(n, STATUS_OK, dtype="<U10")
        status[(frac < self.min_tissue_fraction) | one_colour(tiles, tissue)] = STATUS_FAINT
        status[frac == 0] = STATUS_BACKGROUND
        flagged = status != STATUS_OK
        if self.background == "unchanged" and flagged.any():
            mapped[flagged] = tiles[flagged]
        return mapped, status

    def _map_colours(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map colours uint8 (K, 3) with the slide's source fit; also say which are tissue."""
        pixels = rgb.reshape(1, 1, -1, 3)
        tissue = tissue_pixels(pixels, luminosity_threshold=self.luminosity_threshold).reshape(-1)
        mapped = self._apply(OD_LUT[pixels].reshape(1, -1, 3), self.stain_matrix_source_[None],
                             self.max_concentrations_source_[None])[0]
        return mapped, tissue

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_colour_table", None)  # a cache; never ship 64 MiB to a worker
        return state

    def _transform_staintools(
        self, tiles: np.ndarray, out: np.ndarray, status: np.ndarray
    ) -> None:
        """Reference path: staintools on every tile; its failures become flags."""
        todo = np.flatnonzero(status == STATUS_OK)
        status[todo[transform_tiles(self._staintools_, tiles, out, todo)]] = STATUS_FAINT
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
        return write_text(path, self.to_json())  # atomic: a crash never leaves half a file

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
