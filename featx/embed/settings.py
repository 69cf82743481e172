"""The settings of a batch run: what it extracts and how, and where it runs.

:class:`ExtractionSettings` travels with every slide to the worker that processes it:
the extractor recipe, the tiling, the stain normaliser, the embed function, the
storage type, the slide_mpp override and the run's retry, lock and hash policies.
Its fields marked :func:`identity` make up what a finished store file must record
for a rerun to skip the slide (:meth:`ExtractionSettings.identity`): a new setting
that changes the embeddings is one field with ``metadata=identity("its_key")``.

:class:`ClusterSettings` says where the slides are processed (this process, a local
Dask cluster or a running scheduler) and whether progress is shown; it never changes
what is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from featx._provenance import config_of
from featx._validate import non_negative_float, non_negative_int, one_of, positive_float, positive_int
from featx.embed.store import STORE_FORMAT
from featx.errors import InvalidParameterError
from featx.extractors.registry import ExtractorFactory
from featx.wsi.regions import RegionFilter
from featx.wsi.tiling import TileSpec

if TYPE_CHECKING:
    from featx.embed.pipeline import SlideEmbeddings
    from featx.extractors.base import Extractor

#: Storage types of the embeddings.
DTYPES = ("float32", "float16")


class TileTransformer(Protocol):
    """A stain normaliser: a fitted ``MacenkoNormalizer`` or any object with ``transform``."""

    def transform(self, tiles: np.ndarray) -> np.ndarray:
        """Normalise a uint8 batch (N, H, W, 3); return a uint8 batch of the same shape."""
        ...


#: What ``normalizer`` takes: a transformer, or a plain function on uint8 batches.
Normalizer = TileTransformer | Callable[[np.ndarray], np.ndarray]


class EmbedFunction(Protocol):
    """A slide to its embeddings, as :func:`featx.embed.pipeline.embed_slide` does.

    ``slide_mpp`` is passed only when the slide has an override, and ``regions`` only
    when the run filters by annotated region, so a function without those keywords
    still works for runs that need neither.
    """

    def __call__(self, slide_or_path: str, extractor: Extractor, *, spec: TileSpec,
                 normalizer: Normalizer | None, batch_size: int,
                 slide_mpp: float | None = None,
                 regions: RegionFilter | None = None) -> SlideEmbeddings: ...


def identity(key: str) -> MappingProxyType[str, str]:
    """Field metadata: the field is stored under ``key`` and must match for a slide to be done."""
    return MappingProxyType({"identity": key})


def _identity_value(value: object) -> object:
    # Plain values as they are; objects (tile spec, normaliser) as their JSON identity.
    return value if value is None or isinstance(value, str | int | float | bool) else (
        config_of(value))


@dataclass(frozen=True)
class ExtractionSettings:
    """What a batch run extracts and how (see :func:`featx.embed.batch.run_batch`).

    Parameters
    ----------
    extractor : ExtractorFactory
        The extractor recipe; a name in :data:`~featx.extractors.registry.KNOWN_EXTRACTORS`,
        ``keras:<Name>``, ``onnx:<file>`` or ``"package.module:Callable"`` is turned into
        one with :meth:`ExtractorFactory.of`.
    spec : TileSpec
        Tiling; default ``TileSpec()``.
    normalizer : fitted stain normaliser, optional
        Passed to the pipeline; its identity and fit are part of the provenance.
    embed : EmbedFunction, optional
        Default :func:`featx.embed.pipeline.embed_slide`. Must be importable by workers.
    dtype : {"float32", "float16"}
        Storage type of the embeddings.
    batch_size : int
        Tiles per forward pass.
    slide_mpp : float, optional
        Microns per level-0 pixel of every slide, overriding its metadata (for slides
        that record none, e.g. TCGA's older JPEG 2000 frozen sections). A manifest's
        ``slide_mpp`` column sets it per slide and wins over this; empty cells fall
        back to it, then to the metadata. Recorded in the provenance with its source
        (``slide_mpp_override``).
    full_hash : bool
        Fingerprint slides by a full sha256 instead of size + partial hash.
    retry_failed : bool
        Process slides whose last status was ``failed`` again.
    stale_lock_s, lock_wait_s : float
        Lock staleness, and the longest wait, at the end of the run, for a slide
        another run or worker still holds (locked slides are first passed over).
    regions : RegionFilter, optional
        Keep or exclude tiles by the class of the slide's QuPath annotations
        (:class:`featx.wsi.regions.RegionFilter`). Each slide's file is its manifest's
        ``annotations`` cell, else ``annotations``; the filter and the file's sha256 are
        part of that slide's provenance.
    annotations : Path, optional
        A QuPath GeoJSON file for every slide without a manifest cell, or a folder of
        ``<slide_id>.geojson`` files.
    """

    extractor: ExtractorFactory
    spec: TileSpec = field(default_factory=TileSpec, metadata=identity("tile_spec"))
    normalizer: Normalizer | None = field(default=None, metadata=identity("stain"))
    embed: EmbedFunction | None = None
    dtype: Literal["float32", "float16"] = field(default="float32",
                                                 metadata=identity("embedding_dtype"))
    batch_size: int = 64
    slide_mpp: float | None = None
    full_hash: bool = False
    retry_failed: bool = False
    stale_lock_s: float = 300.0
    lock_wait_s: float = 3600.0
    regions: RegionFilter | None = None
    annotations: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.extractor, str):
            object.__setattr__(self, "extractor", ExtractorFactory.of(self.extractor))
        if not isinstance(self.extractor, ExtractorFactory):
            raise InvalidParameterError("extractor", "an ExtractorFactory or an extractor name",
                                        self.extractor)
        if not isinstance(self.spec, TileSpec):
            raise InvalidParameterError("spec", "a TileSpec", self.spec)
        if self.embed is not None and not callable(self.embed):
            raise InvalidParameterError("embed", "None or a function like embed_slide",
                                        self.embed)
        one_of("dtype", self.dtype, DTYPES)
        positive_int("batch_size", self.batch_size)
        if self.slide_mpp is not None:
            object.__setattr__(self, "slide_mpp", positive_float("slide_mpp", self.slide_mpp))
        non_negative_float("stale_lock_s", self.stale_lock_s)
        non_negative_float("lock_wait_s", self.lock_wait_s)
        if self.regions is not None and not isinstance(self.regions, RegionFilter):
            raise InvalidParameterError("regions", "a RegionFilter", self.regions)
        if self.annotations is not None:
            object.__setattr__(self, "annotations", Path(self.annotations).expanduser().absolute())

    def identity(self, extractor_config: dict[str, Any]) -> dict[str, Any]:
        """What every store file of the run records, and a rerun compares to skip a slide.

        ``extractor_config`` is the built extractor's ``config`` (its weights' hash
        included), which only a process holding the model knows.
        """
        record: dict[str, Any] = {"store_format": STORE_FORMAT, "extractor": extractor_config}
        for item in fields(self):
            if "identity" in item.metadata:
                record[item.metadata["identity"]] = _identity_value(getattr(self, item.name))
        return record


@dataclass(frozen=True)
class ClusterSettings:
    """Where a batch run processes its slides, and what it shows meanwhile.

    Parameters
    ----------
    workers : int or None
        ``0``: run in this process, no Dask. ``None`` (default): a Dask LocalCluster
        with :func:`featx.embed.batch.default_n_workers` worker processes. ``n > 0``: a
        LocalCluster with ``n`` workers. Ignored when ``scheduler`` is given.
    threads_per_worker : int
        Threads per local Dask worker (each runs one slide at a time per thread).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``), e.g. one started
        by dask-jobqueue on SLURM or by dask-kubernetes.
    retries : int
        Dask retries of a task that raised outside the slide's own error handling; a
        task whose worker died is rescheduled by Dask anyway.
    progress : bool
        Show a progress bar with slides and tiles per second.
    """

    workers: int | None = None
    threads_per_worker: int = 1
    scheduler: str | None = None
    retries: int = 2
    progress: bool = False

    def __post_init__(self) -> None:
        if self.workers is not None:
            non_negative_int("workers", self.workers)
        positive_int("threads_per_worker", self.threads_per_worker)
        non_negative_int("retries", self.retries)

    @property
    def uses_dask(self) -> bool:
        """Whether slides go to Dask workers rather than run in this process."""
        return self.workers != 0 or self.scheduler is not None


__all__ = ["DTYPES", "ClusterSettings", "EmbedFunction", "ExtractionSettings", "Normalizer",
           "TileTransformer", "identity"]
