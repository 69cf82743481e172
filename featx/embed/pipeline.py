"""Slide to embeddings: tiling, stain normalisation and feature extraction, overlapped.

:func:`embed_slide` keeps the model busy: a pool of ``num_workers`` producer
threads each reads a batch of tiles (:func:`featx.wsi.tiling.read_tiles`),
normalises its stains and resizes it to the extractor's input, while the calling
thread runs the model on the batch before. At most ``prefetch_batches`` batches
are queued or being prepared, so memory is bounded whatever the slide's size:
about ``prefetch_batches + 1`` batches of pixels exist at once (the features,
8 KB per tile at 2048 floats, are the only output that grows with the slide).
Batches come out in slide order.

Threads rather than processes: OpenSlide/JPEG decoding, NumPy's Macenko and
TensorFlow release the GIL, and threads share the open slide handle. Several
producers matter on a GPU: measured on one CPU core, reading runs at about 70 and
Macenko at about 120 tiles/s of 224 px, far below a GPU's Xception rate.
``prefetch_batches=0`` runs the same steps one after another, for comparison
(``benchmarks/bench_extract.py`` measures both).

``preprocess="device"`` (the default ``"auto"`` picks it when TensorFlow sees a GPU
and the extractor has ``embed_on_device``) moves the per-slide Macenko apply and the
resize onto the model's device (:class:`featx.stain.device.DeviceMacenko`, equal to
the NumPy path within one grey level): producers then only decode tiles, and uint8
tiles cross to the device. A per-tile normaliser (or a slide whose sample has too
little tissue for a per-slide fit) still normalises on the CPU; the resize moves
anyway. On a CPU-only machine ``"auto"`` keeps the NumPy path.
"""

from __future__ import annotations

import copy
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx import __version__
from featx._provenance import config_of
from featx._validate import non_negative_int, one_of, positive_int
from featx.errors import EmptyTissueError, ExtractionError, InvalidParameterError
from featx.extractors.base import Extractor
from featx.wsi.regions import RegionFilter
from featx.wsi.slide import Slide, open_slide
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles, spread_indices
from featx.wsi.tissue import TissueMask

#: ``stain_status`` of tiles when no normaliser ran.
NOT_NORMALIZED = "not_normalized"
#: Tiles, spread over the slide, that a per-slide stain normaliser is fitted on.
SOURCE_SAMPLE_TILES = 32
#: Name prefix of the threads that read and normalise batches.
PRODUCER_THREAD = "featx-tile-producer"
#: Most producer threads by default: with the model on the CPU, and feeding a device.
MAX_CPU_PRODUCERS, MAX_DEVICE_PRODUCERS = 8, 16
#: Where stain apply and resize run: the CPU producers, the model's device, or auto.
PREPROCESS = ("auto", "cpu", "device")


@dataclass(frozen=True)
class SlideEmbeddings:
    """The embeddings of one slide's tiles.

    Attributes
    ----------
    coords : pandas.DataFrame
        One row per tile: the :func:`~featx.wsi.tiling.grid_coords` columns plus
        ``stain_status`` (``"ok"``, ``"background"``, ``"faint"`` from the normaliser,
        or ``"not_normalized"``).
    features : numpy.ndarray
        float32 (n_tiles, n_features), row i belongs to ``coords.iloc[i]``.
    provenance : dict
        JSON-serialisable: extractor config, tile spec, stain config, slide info,
        featx version, timings.
    """

    coords: pd.DataFrame
    features: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def slide_id(self) -> str:
        """The slide's identifier."""
        return str(self.provenance.get("slide", {}).get("slide_id", ""))

    def __len__(self) -> int:
        return len(self.features)


def usable_cores() -> int:
    """Cores this process may run on: a SLURM or Kubernetes allocation, not the whole node."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows: no affinity masks
        return os.cpu_count() or 1


def _stain_step(normalizer: Any) -> tuple[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                                          Any]:
    """A batch -> (tiles, status) function and a JSON description of the normaliser."""
    if normalizer is None:
        return (lambda t: (t, np.full(len(t), NOT_NORMALIZED))), None
    config = config_of(normalizer)
    if hasattr(normalizer, "transform_with_status"):
        return (lambda t: tuple(normalizer.transform_with_status(t))), config
    transform = getattr(normalizer, "transform", normalizer)
    if not callable(transform):
        raise InvalidParameterError(
            "normalizer", "None, a fitted MacenkoNormalizer, or a callable on uint8 batches",
            type(normalizer).__name__,
        )
    return (lambda t: (np.asarray(transform(t), np.uint8), np.full(len(t), "ok"))), config


def _fit_to_slide(normalizer: Any, slide: Slide, coords: pd.DataFrame,
                  num_workers: int) -> tuple[Any, dict[int, np.ndarray]]:
    """A per-slide normaliser fitted to this slide's stains, on tiles spread over it.

    The caller's normaliser is shared by every slide, so a copy is fitted. A sample
    without usable tissue falls back to per-tile fitting, recorded in the copy's config.
    The model waits for this fit, so the producers' threads read the sample together;
    the sample's tiles are returned by row, so the stream does not read them again.
    """
    if getattr(normalizer, "mode", None) != "per_slide" or not len(coords):
        return normalizer, {}
    picks = spread_indices(len(coords), SOURCE_SAMPLE_TILES)
    sample = read_tiles(slide, coords.iloc[picks], num_workers=num_workers)
    fitted = copy.deepcopy(normalizer)
    read = dict(zip(picks.tolist(), sample))
    try:
        return fitted.fit_source(sample), read
    except EmptyTissueError:
        return fitted.set_params(mode="per_tile"), read


def _read_batch(slide: Slide, coords: pd.DataFrame, start: int, stop: int,
                read: dict[int, np.ndarray]) -> np.ndarray:
    """Tiles ``start:stop`` of a table; those in ``read`` (row -> tile) are taken from it."""
    rows = coords.iloc[start:stop]
    held = [i for i in range(len(rows)) if start + i in read]
    if not held:
        return read_tiles(slide, rows, num_workers=1)
    tiles = np.empty((len(rows), *read[start + held[0]].shape), np.uint8)
    rest = [i for i in range(len(rows)) if start + i not in read]
    if rest:
        tiles[rest] = read_tiles(slide, rows.iloc[rest], num_workers=1)
    for i in held:
        tiles[i] = read.pop(start + i)  # each row is read once: drop it from memory
    return tiles


def embed_slide(
    slide_or_path: Slide | str | Path,
    extractor: Extractor,
    *,
    spec: TileSpec | None = None,
    normalizer: Any = None,
    batch_size: int = 64,
    tissue: TissueMask | None = None,
    coords: pd.DataFrame | None = None,
    slide_mpp: float | None = None,
    num_workers: int | None = None,
    prefetch_batches: int | None = None,
    preprocess: str = "auto",
    progress: bool = False,
    regions: RegionFilter | None = None,
) -> SlideEmbeddings:
    """Embed every tissue tile of a slide.

    Parameters
    ----------
    slide_or_path : Slide or str or Path
        An open slide (left open) or a slide file (opened and closed here).
    extractor : Extractor
        Any extractor (:class:`~featx.extractors.ImagenetXception`,
        :class:`~featx.extractors.FineTunedXception`, ...).
    spec : TileSpec, optional
        Tile size, tile_mpp, overlap and tissue threshold; default ``TileSpec()``.
    normalizer : object, optional
        A fitted ``MacenkoNormalizer`` (its ``transform_with_status`` gives
        ``stain_status``), or any callable ``uint8 batch -> uint8 batch``.
    batch_size : int, default 64
        Tiles per batch.
    tissue : TissueMask, optional
        Precomputed tissue mask (default: detected by :func:`~featx.wsi.tiling.grid_coords`).
    coords : pandas.DataFrame, optional
        Tiles to embed (a ``grid_coords`` table or a subset); overrides ``tissue``.
    slide_mpp : float, optional
        Level-0 microns per pixel for slides whose metadata lacks it (paths only).
    num_workers : int, optional
        Producer threads; each reads, normalises and resizes one batch at a time.
        Default: the cores this process may use (its affinity mask, so a cluster
        job's allocation), at most 8, or 16 when preprocessing runs on the device
        (the producers then only decode, for a GPU). They scale about linearly (measured: 100
        tiles/s of 224 px with one thread, 183 with two on two cores), and a GPU
        needs many to be kept busy.
    prefetch_batches : int, optional
        Batches queued or in preparation ahead of the model (the memory bound);
        default ``num_workers + 1``; 0 runs the steps one after another in the
        calling thread.
    preprocess : {"auto", "cpu", "device"}, default "auto"
        Where the per-slide Macenko apply and the resize run: in the producer
        threads (NumPy), or on the model's device
        (:meth:`~featx.extractors.keras_model.KerasExtractor.embed_on_device`).
        ``"auto"``: the device when TensorFlow sees a GPU and the extractor can.
    progress : bool, default False
        Show a progress bar.
    regions : RegionFilter, optional
        Keep only tiles in (or out of) the slide's annotated regions of named classes
        (:class:`featx.wsi.regions.RegionFilter`, bound to the slide's file); its
        config and the tiles it dropped go into the provenance.

    Returns
    -------
    SlideEmbeddings
    """
    spec = TileSpec() if spec is None else spec
    if not isinstance(spec, TileSpec):
        raise InvalidParameterError("spec", "a TileSpec", type(spec).__name__)
    if not isinstance(extractor, Extractor):
        raise InvalidParameterError(
            "extractor", "an Extractor (name, n_features, input_px, config, __call__)",
            type(extractor).__name__,
        )
    batch_size = positive_int("batch_size", batch_size)
    on_device = _on_device(str(one_of("preprocess", preprocess, PREPROCESS)), extractor)
    # A GPU at ~1,000 tiles/s needs ~10 cores decoding at ~100 tiles/s each; on a CPU
    # more producers than 8 only take cores from the model.
    cap = MAX_DEVICE_PRODUCERS if on_device else MAX_CPU_PRODUCERS
    num_workers = min(cap, usable_cores()) if num_workers is None else positive_int(
        "num_workers", num_workers)
    prefetch_batches = num_workers + 1 if prefetch_batches is None else non_negative_int(
        "prefetch_batches", prefetch_batches)
    if isinstance(slide_or_path, Slide):
        return _embed(slide_or_path, extractor, spec, normalizer, batch_size, tissue, coords,
                      num_workers, prefetch_batches, on_device, progress, regions)
    with open_slide(slide_or_path, slide_mpp=slide_mpp) as slide:
        return _embed(slide, extractor, spec, normalizer, batch_size, tissue, coords,
                      num_workers, prefetch_batches, on_device, progress, regions)


def _on_device(preprocess: str, extractor: Extractor) -> bool:
    """Whether stain apply and resize go to the model's device."""
    can = callable(getattr(extractor, "embed_on_device", None))
    if preprocess == "device" and not can:
        raise InvalidParameterError(
            "preprocess", "'cpu' or 'auto' for an extractor without embed_on_device "
            "(only Keras extractors run preprocessing on their device)", preprocess)
    if preprocess != "auto" or not can:
        return preprocess == "device"
    import tensorflow as tf  # the extractor is a Keras model: TensorFlow is loaded already

    return bool(tf.config.list_physical_devices("GPU"))


def _device_step(fitted: Any) -> Any:
    """The device form of a slide's fitted normaliser, or None where only the CPU can."""
    from featx.stain.device import DeviceMacenko
    from featx.stain.macenko import MacenkoNormalizer

    if (isinstance(fitted, MacenkoNormalizer) and fitted.mode == "per_slide"
            and hasattr(fitted, "stain_matrix_source_")):
        return DeviceMacenko.from_normalizer(fitted)
    return None


def _embed(slide: Slide, extractor: Extractor, spec: TileSpec, normalizer: Any,
           batch_size: int, tissue: TissueMask | None, coords: pd.DataFrame | None,
           num_workers: int, prefetch_batches: int, on_device: bool,
           progress: bool, regions: RegionFilter | None = None) -> SlideEmbeddings:
    start = time.perf_counter()
    if coords is None:
        coords = grid_coords(slide, spec, tissue=tissue)
    n_grid = len(coords)
    if regions is not None:
        coords = regions.select(coords, width_px=slide.info.width, height_px=slide.info.height,
                                level_downsamples=slide.info.level_downsamples)
    coords = coords.reset_index(drop=True)
    fitted, read = _fit_to_slide(normalizer, slide, coords, num_workers)
    device_step = _device_step(fitted) if on_device else None
    stain, stain_config = _stain_step(None if device_step is not None else fitted)
    if device_step is not None:
        stain_config = config_of(fitted)  # the same fit, applied elsewhere
    # Resize early, in the producer, unless the device does it.
    prepare = None if on_device else getattr(extractor, "prepare", None)

    def work(tiles: np.ndarray) -> tuple[Any, np.ndarray]:
        tiles, status = stain(tiles)
        return (prepare(tiles) if prepare is not None else tiles), np.asarray(status)

    def model(ready: Any, batch_status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not on_device:
            return np.asarray(extractor(ready)), batch_status
        out, codes = extractor.embed_on_device(ready, device_step)  # type: ignore[attr-defined]
        if device_step is None:
            return out, batch_status
        return out, device_step.status(codes)

    n, width = len(coords), int(extractor.n_features)
    features = np.empty((n, width), np.float32)
    status = np.empty(n, dtype=object)
    model_s, done = 0.0, 0
    for rows, ready, batch_status in _stream(slide, coords, batch_size, work, prefetch_batches,
                                             num_workers, progress, read):
        t0 = time.perf_counter()
        out, batch_status = model(ready, batch_status)
        model_s += time.perf_counter() - t0
        if out.shape != (len(rows), width) or not np.isfinite(out).all():
            raise ExtractionError(
                extractor.name, f"{slide.slide_id} (rows {done}-{done + len(rows) - 1})",
                f"{out.shape} {out.dtype}" + ("" if out.shape != (len(rows), width) else
                                              " with non-finite values"),
                f"finite float32 ({len(rows)}, {width})")
        features[done:done + len(rows)] = out
        status[done:done + len(rows)] = batch_status
        done += len(rows)
    table = coords.assign(stain_status=pd.Series(status, dtype="string").fillna(NOT_NORMALIZED))
    total_s = time.perf_counter() - start
    provenance = {
        "featx_version": __version__, "extractor": extractor.config,
        "tile_spec": spec.config, "stain": stain_config, "slide": slide.info.config,
        "n_tiles": n, "batch_size": batch_size, "prefetch_batches": prefetch_batches,
        "num_workers": num_workers, "preprocess": "device" if on_device else "cpu",
        "seconds": {"total": round(total_s, 3), "model": round(model_s, 3)},
        "regions": None if regions is None else {**regions.config,
                                                 "n_tiles_dropped": n_grid - n},
    }
    return SlideEmbeddings(table, features, provenance)


def _stream(slide: Slide, coords: pd.DataFrame, batch_size: int,
            work: Callable[[np.ndarray], tuple[Any, np.ndarray]], prefetch_batches: int,
            num_workers: int, progress: bool,
            read: dict[int, np.ndarray]) -> Iterator[tuple[pd.DataFrame, Any, np.ndarray]]:
    """Yield (rows, model-ready tiles, stain status) in order, prepared ahead by a pool.

    Each job reads one batch (:func:`~featx.wsi.tiling.read_tiles`; rows in ``read``
    were read already) and runs ``work`` on it; at most ``prefetch_batches`` jobs are
    queued or running at once.
    """
    starts = range(0, len(coords), batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(coords), unit="tile", desc=slide.slide_id)

    def job(start: int) -> tuple[pd.DataFrame, Any, np.ndarray]:
        stop = min(start + batch_size, len(coords))
        return (coords.iloc[start:stop], *work(_read_batch(slide, coords, start, stop, read)))

    try:
        if prefetch_batches == 0:
            for start in starts:
                item = job(start)
                yield item
                if bar is not None:
                    bar.update(len(item[0]))
            return
        with ThreadPoolExecutor(max_workers=max(1, min(num_workers, prefetch_batches)),
                                thread_name_prefix=PRODUCER_THREAD) as pool:
            pending: deque[Future] = deque()
            todo = iter(starts)
            try:
                for start in todo:
                    pending.append(pool.submit(job, start))
                    if len(pending) >= prefetch_batches:
                        break
                while pending:
                    item = pending.popleft().result()
                    next_start = next(todo, None)
                    if next_start is not None:
                        pending.append(pool.submit(job, next_start))
                    yield item
                    if bar is not None:
                        bar.update(len(item[0]))
            finally:  # the consumer failed or stopped early: drop what has not started
                for future in pending:
                    future.cancel()
    finally:
        if bar is not None:
            bar.close()
