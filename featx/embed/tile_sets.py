"""Labelled tile datasets (NCT-CRC-HE-100K, CRC-VAL-HE-7K) to embeddings and a label table.

A class-per-folder tile set (``TILES/<class>/*.tif``) is embedded in chunks of
``chunk_size`` tiles per class. Each chunk is one Parquet file of the store,
``<out>/extractor=<NAME>/<class>-<k>.parquet`` (columns ``tile_id`` = path relative
to the tile folder, ``label``, ``stain_status``, ``embedding``), written atomically
with its provenance (extractor, stain normaliser, tile size, a hash of the chunk's
listing). A rerun skips every chunk whose file has the same provenance, so a killed
run loses at most the chunks in progress. ``<out>/labels.tsv`` (tile_id, label)
and its provenance are written beside, which is what ``featx evaluate <out> -t
<out>/labels.tsv -e tissue`` reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from featx import __version__
from featx._io import write_json, write_table
from featx._provenance import config_of
from featx._validate import fits_in_memory, one_of, positive_int
from featx._validate import tile_px as check_tile_px
from featx.embed.store import PROVENANCE_KEY, write_table_atomic
from featx.errors import ExtractionError, ResumeMismatchError
from featx.extractors.ftx.data import TileDataset, load_tile, read_tile_folder
from featx.extractors.registry import ExtractorFactory, get_extractor

_DTYPES = {"float32": pa.float32(), "float16": pa.float16()}
#: The file recording which tile set a folder holds.
TILESET_FILE = "_tileset.json"


@dataclass(frozen=True)
class TileSetRun:
    """What :func:`embed_tile_folder` did.

    Attributes
    ----------
    labels : Path
        The label table (tile_id, label).
    store : Path
        ``<out>/extractor=<NAME>``, the embeddings.
    n_tiles, n_chunks, n_skipped : int
        Tiles listed, chunk files in the store, chunks already done before this run.
    """

    labels: Path
    store: Path
    n_tiles: int
    n_chunks: int
    n_skipped: int


def _chunks(data: TileDataset, chunk_size: int) -> list[tuple[str, list[int]]]:
    plan = []
    for k, name in enumerate(data.classes):
        index = np.flatnonzero(data.labels == k).tolist()
        for i, start in enumerate(range(0, len(index), chunk_size)):
            plan.append((f"{name}-{i:05d}", index[start:start + chunk_size]))
    return plan


def _listing_hash(data: TileDataset, index: Sequence[int]) -> str:
    digest = hashlib.sha256()
    for i in index:
        path = data.paths[i]
        digest.update(f"{path.relative_to(data.root).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def _stored_provenance(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata.get(PROVENANCE_KEY, b"null"))
    except (pa.ArrowException, OSError, ValueError):
        return None  # a foreign or damaged file: embed that chunk again


def _normalise(normalizer: Any, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if normalizer is None:
        return tiles, np.full(len(tiles), "none")
    if hasattr(normalizer, "transform_with_status"):
        out, status = normalizer.transform_with_status(tiles)
        return np.asarray(out, np.uint8), np.asarray(status).astype(str)
    return np.asarray(normalizer.transform(tiles), np.uint8), np.full(len(tiles), "ok")


def _embed_chunk(data: TileDataset, index: Sequence[int], extractor: Any, normalizer: Any,
                 tile_px: int, batch_size: int, bar: Any) -> tuple[np.ndarray, np.ndarray]:
    features, statuses = [], []
    for start in range(0, len(index), batch_size):
        batch = np.stack([load_tile(data.paths[i], tile_px) for i in index[start:start + batch_size]])
        tiles, status = _normalise(normalizer, batch)
        out = np.asarray(extractor(tiles), dtype=np.float32)
        if out.shape != (len(batch), extractor.n_features) or not np.isfinite(out).all():
            raise ExtractionError(extractor.name, str(data.root), f"{out.shape} {out.dtype}",
                                  f"({len(batch)}, {extractor.n_features}) finite floats")
        features.append(out)
        statuses.append(status)
        bar.update(len(batch))
    return np.concatenate(features), np.concatenate(statuses)


def _chunk_table(data: TileDataset, index: Sequence[int], features: np.ndarray,
                 status: np.ndarray, dtype: str, provenance: dict[str, Any]) -> pa.Table:
    element = pa.field("element", _DTYPES[dtype], nullable=False)
    flat = pa.array(features.astype(element.type.to_pandas_dtype()).ravel())
    embedding = pa.FixedSizeListArray.from_arrays(flat, type=pa.list_(element, features.shape[1]))
    table = pa.table({
        "tile_id": [data.paths[i].relative_to(data.root).as_posix() for i in index],
        "label": [data.classes[data.labels[i]] for i in index],
        "stain_status": status.astype(str).tolist(), "embedding": embedding})
    return table.replace_schema_metadata({PROVENANCE_KEY: json.dumps(provenance,
                                                                      sort_keys=True).encode()})


def _check_folder(out: Path, data: TileDataset) -> None:
    record = out / TILESET_FILE
    mine = {"root": str(data.root), "data_hash": data.data_hash(), "n_tiles": len(data.paths)}
    if record.is_file():
        stored = json.loads(record.read_text(encoding="utf-8"))
        if stored.get("data_hash") != mine["data_hash"]:
            raise ResumeMismatchError(out, f"tiles ({stored.get('n_tiles')} tiles of "
                                      f"{stored.get('root')}, not {mine['n_tiles']} of {data.root})")
    else:
        write_json(record, mine)


def embed_tile_folder(
    folder: str | Path,
    out: str | Path,
    *,
    extractor: Any = "IMGNET-2048",
    normalizer: Any = None,
    tile_px: int | None = None,
    chunk_size: int = 1000,
    batch_size: int = 64,
    dtype: str = "float32",
    max_per_class: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> TileSetRun:
    """Embed a class-per-folder tile set into ``out``, resumably, with a label table beside it.

    Parameters
    ----------
    folder : path
        ``<folder>/<class>/*.tif|png|jpg`` (NCT-CRC-HE-100K layout).
    out : path
        The output folder: ``extractor=<NAME>/`` chunk files, ``labels.tsv`` and its
        ``labels.provenance.json``.
    extractor : str, ExtractorFactory or extractor
        A registry name (``IMGNET-2048``, ``FTX-2048``, ``COLORSTATS``), a factory, or an
        object following :class:`featx.extractors.base.Extractor`.
    normalizer : optional
        A fitted :class:`featx.stain.MacenkoNormalizer` (or any ``transform`` on uint8
        batches): tiles are normalised before the model.
    tile_px : int, optional
        Side the tiles are resized to (default: the extractor's ``input_px``).
    chunk_size : int
        Tiles per chunk file (the unit of resumption).
    batch_size : int
        Tiles per forward pass.
    dtype : {"float32", "float16"}
        Storage type of the embeddings.
    max_per_class : int, optional
        A seeded random choice of at most this many tiles per class.
    seed : int
        Seed of that choice.
    progress : bool
        Show a tile progress bar.

    Raises
    ------
    ResumeMismatchError
        ``out`` holds the embeddings of another tile set.
    """
    from tqdm.auto import tqdm

    one_of("dtype", dtype, tuple(_DTYPES))
    positive_int("chunk_size", chunk_size)
    positive_int("batch_size", batch_size)
    if tile_px is not None:
        check_tile_px("tile_px", tile_px)
    if isinstance(extractor, str):
        extractor = ExtractorFactory.of(extractor)
    if isinstance(extractor, ExtractorFactory):
        extractor = get_extractor(extractor)
    data = read_tile_folder(folder, max_per_class=max_per_class, seed=seed)
    out = Path(out)
    _check_folder(out, data)
    px = tile_px if tile_px is not None else int(extractor.input_px)
    # A batch as uint8 tiles and as the float32 copy a model takes.
    fits_in_memory(f"a batch of {batch_size} tiles of {px} px", batch_size * px**2 * 3 * 5.0,
                   fix="lower --batch-size or --tile-px")
    store = out / f"extractor={extractor.name}"
    base = {"featx_version": __version__, "extractor": config_of(extractor),
            "stain_normalizer": config_of(normalizer), "tile_px": px, "embedding_dtype": dtype,
            "tile_folder": str(data.root)}
    plan = _chunks(data, chunk_size)
    skipped = 0
    with tqdm(total=len(data.paths), unit="tile", disable=not progress, desc="embedding") as bar:
        for part, index in plan:
            path = store / f"{part}.parquet"
            expected = {**base, "chunk": part, "listing_sha256": _listing_hash(data, index),
                        "n_tiles": len(index)}
            if _stored_provenance(path) == json.loads(json.dumps(expected, default=str)):
                skipped += 1
                bar.update(len(index))
                continue
            features, status = _embed_chunk(data, index, extractor, normalizer, px, batch_size, bar)
            write_table_atomic(_chunk_table(data, index, features, status, dtype, expected), path)
    labels = pd.DataFrame({"tile_id": [p.relative_to(data.root).as_posix() for p in data.paths],
                           "label": [data.classes[k] for k in data.labels]})
    labels_path = write_table(labels, out / "labels.tsv")
    write_json(out / "labels.provenance.json", {
        "featx_version": __version__, "kind": "tissue labels", "tile_folder": str(data.root),
        "data_hash": data.data_hash(), "classes": data.counts(), "n_tiles": len(labels),
        "max_per_class": max_per_class, "seed": seed, "label_rule": "the tile's class folder"})
    return TileSetRun(labels_path, store, len(data.paths), len(plan), skipped)
