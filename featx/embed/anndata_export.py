"""``featx export --format anndata``: a store's embeddings as one ``.h5ad`` per extractor.

What scverse tools (scanpy, squidpy, LazySlide) read: tiles are observations, embedding
dimensions are variables.

- ``X``: the embeddings, float32 (n_tiles, n_features), written slide by slide into
  the file, so memory holds one slide's embeddings plus the tile table, however big
  the store;
- ``obs`` (index ``<slide_id>:<col>:<row>``): ``slide_id``, ``patient_id`` (both
  categorical), the level-0 top-left ``x``, ``y``, ``col``, ``row``, ``level``,
  ``read_px``, ``tile_mpp``, ``tissue_fraction`` and ``stain_status``;
- ``obsm["spatial"]``: each tile's centre in level-0 pixels (per slide: filter by
  ``slide_id`` before plotting);
- ``uns["featx"]``: the extractor, featx's version, and each slide's provenance as
  JSON text.

Needs the ``anndata`` extra (``pip install featx[anndata]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from featx import __version__
from featx._io import atomic_path
from featx._optional import require
from featx.embed.store import (
    embedding_matrix,
    list_extractors,
    list_slides,
    provenance,
    read_slide,
    slide_geometry,
    slide_path,
)
from featx.errors import DataNotFoundError
from featx.wsi.tile_grid import tile_extent_l0

#: Store columns that go into ``obs``.
OBS_COLUMNS = ["slide_id", "patient_id", "x", "y", "col", "row", "level", "read_px", "tile_mpp",
               "tissue_fraction", "stain_status"]


def export_anndata(root: str | Path, out: str | Path, *,
                   extractor: str | None = None) -> list[Path]:
    """Write ``<out>/<extractor>.h5ad`` for each extractor of the store (or only ``extractor``).

    Returns
    -------
    list of Path
    """
    anndata = require("anndata", extra="anndata", purpose="to write .h5ad files")
    root, out = Path(root), Path(out)
    names = [extractor] if extractor is not None else list_extractors(root)
    out.mkdir(parents=True, exist_ok=True)
    return [_export(anndata, root, name, out / f"{name}.h5ad") for name in names]


def _export(anndata: object, root: Path, extractor: str, target: Path) -> Path:
    import h5py

    slides = list_slides(root, extractor=extractor)
    if not slides:
        raise DataNotFoundError(f"slides of extractor {extractor!r} in {root}",
                                f"Extractors in the store: {list_extractors(root)}")
    files = [slide_path(root, extractor=extractor, slide_id=s) for s in slides]
    records = {s: provenance(f) for s, f in zip(slides, files)}
    tables = [read_slide(root, s, extractor=extractor,
                         columns=[c for c in OBS_COLUMNS if c in pq.read_schema(f).names])
              for s, f in zip(slides, files)]
    obs = pd.concat(tables, ignore_index=True)
    n_features = pq.read_schema(files[0]).field("embedding").type.list_size
    adata = anndata.AnnData(  # type: ignore[attr-defined]
        obs=_obs(obs), var=pd.DataFrame(index=pd.Index(
            [f"{extractor}_{i}" for i in range(n_features)], dtype=object)),
        obsm={"spatial": _centres(obs, tables, records)},
        uns={"featx": {"extractor": extractor, "featx_version": __version__,
                       "provenance": {s: json.dumps(r) for s, r in records.items()}}})
    with atomic_path(target) as tmp:
        adata.write_h5ad(tmp)  # everything but X, which goes in slide by slide
        with h5py.File(tmp, "a") as handle:
            x = handle.create_dataset("X", shape=(len(obs), n_features), dtype="float32",
                                      chunks=(min(len(obs), 4096) or 1, n_features))
            x.attrs["encoding-type"], x.attrs["encoding-version"] = "array", "0.2.0"
            start = 0
            for slide_id, table in zip(slides, tables):
                block = read_slide(root, slide_id, extractor=extractor, as_="arrow",
                                   columns=["embedding"])
                x[start:start + len(table)] = embedding_matrix(block)
                start += len(table)
    return target


def _obs(table: pd.DataFrame) -> pd.DataFrame:
    obs = table.copy()
    for column in ("slide_id", "patient_id", "stain_status"):
        if column in obs:
            obs[column] = pd.Categorical(obs[column].astype(str))
    obs.index = pd.Index([f"{s}:{c}:{r}" for s, c, r in zip(obs["slide_id"], obs["col"],
                                                             obs["row"])], dtype=object)
    return obs


def _centres(obs: pd.DataFrame, tables: list[pd.DataFrame], records: dict) -> np.ndarray:
    """Tile centres in level-0 pixels."""
    sides = [tile_extent_l0(table, level_downsamples=slide_geometry(record, table)[0])
             for table, record in zip(tables, records.values())]
    half = np.concatenate(sides) / 2
    return np.stack([obs["x"].to_numpy(float) + half, obs["y"].to_numpy(float) + half], axis=1)


__all__ = ["OBS_COLUMNS", "export_anndata"]
