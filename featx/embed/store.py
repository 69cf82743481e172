"""The Parquet embedding store: one file per slide and extractor, one row per tile.

Layout (hive-partitioned on the extractor, a file per slide)::

    <root>/extractor=<EXTRACTOR>/<slide_id>.parquet

so any Parquet reader sees the whole store as one dataset with an ``extractor``
column, without featx::

    pyarrow.dataset.dataset(root, format="parquet", partitioning="hive")
    duckdb.sql("SELECT * FROM read_parquet('<root>/**/*.parquet', hive_partitioning=true)")
    polars.scan_parquet("<root>/**/*.parquet", hive_partitioning=True)
    pandas.read_parquet(root)

and reading one slide opens one file (:func:`read_slide`). Temporary and
bookkeeping files (``.<slide>.parquet.*.tmp``, ``.locks/``, ``_status.csv``) start
with ``.`` or ``_`` and do not end in ``.parquet``, so pyarrow skips them and the
``*.parquet`` globs never match them. One dataset needs one schema: extractors of
different widths (or float16 next to float32) are read one partition at a time.

Columns: slide_id, patient_id, x, y (level 0 pixels), level, read_px (the side read
at that level), tile_mpp, tile_px, tissue_fraction, stain_status, col, row (grid
indices), embedding
(``fixed_size_list<float32|float16>[n_features]``). The provenance (featx version,
extractor config, stain fit, tile spec, slide size and checksum) is JSON in the
file's schema metadata under the key ``featx``.

(Over 450 lines because writing, verifying and reading a store file share one schema
and one provenance layout; apart, each would restate them.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from featx import __version__
from featx._io import atomic_path
from featx._validate import file_name, one_of
from featx.barcodes import patient_id_from_slide
from featx.errors import DataError, DataNotFoundError, InvalidParameterError, StoreError
from featx.wsi.tiling import TILE_TABLE_COLUMNS

#: Schema-metadata key holding the provenance JSON.
PROVENANCE_KEY = b"featx"

#: Version of the file layout; files of another version are extracted again.
STORE_FORMAT = 3

#: Per-tile columns besides the embedding, in file order: the tile table's columns
#: (:data:`featx.wsi.TILE_TABLE_COLUMNS`, so a stored tile can be read again from its
#: slide), the patient and the stain status.
_COLUMN_TYPES = {
    "slide_id": pa.string(), "patient_id": pa.string(), "x": pa.int64(), "y": pa.int64(),
    "level": pa.int32(), "read_px": pa.int32(), "tile_mpp": pa.float64(), "tile_px": pa.int32(),
    "tissue_fraction": pa.float32(), "stain_status": pa.string(),
    "col": pa.int32(), "row": pa.int32(),
}
TILE_COLUMNS = tuple(_COLUMN_TYPES)
#: Columns a tile table must have to be stored (the store adds patient_id and stain_status).
_FROM_TILE_TABLE = tuple(c for c in TILE_TABLE_COLUMNS if c != "slide_id")
_DTYPES = {"float32": pa.float32(), "float16": pa.float16()}
#: Rows per Parquet row group: small enough for selective reads, large enough to compress.
ROW_GROUP_ROWS = 65_536


def slide_path(root: str | Path, *, extractor: str, slide_id: str) -> Path:
    """Return the file holding ``slide_id``'s embeddings by ``extractor`` under ``root``."""
    file_name("extractor", extractor)
    file_name("slide_id", slide_id)
    return Path(root) / f"extractor={extractor}" / f"{slide_id}.parquet"


def embedding_schema(n_features: int, *, dtype: str = "float32") -> pa.Schema:
    """Return the Arrow schema of a store file with ``n_features`` per embedding."""
    one_of("dtype", dtype, tuple(_DTYPES))
    fields = [pa.field(name, _COLUMN_TYPES[name], nullable=False) for name in TILE_COLUMNS]
    # Non-null elements: no definition levels per value, which speeds up reading.
    element = pa.field("element", _DTYPES[dtype], nullable=False)
    fields.append(pa.field("embedding", pa.list_(element, n_features), nullable=False))
    return pa.schema(fields)


def _coords_column(coords: pd.DataFrame, name: str, n: int, default: object) -> np.ndarray:
    if name in coords.columns:
        return coords[name].to_numpy()
    return np.full(n, default)


def to_table(
    coords: pd.DataFrame,
    features: np.ndarray,
    *,
    slide_id: str,
    patient_id: str | None = None,
    dtype: str = "float32",
    provenance: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Build the Arrow table of one slide's tiles, with provenance in its metadata.

    Parameters
    ----------
    coords : DataFrame
        One row per tile with at least x, y, level, tile_mpp, tile_px, tissue_fraction,
        col, row (the tiling table); ``stain_status`` defaults to ``"none"``.
    features : ndarray, shape (n_tiles, n_features)
        The embeddings, finite floats.
    slide_id : str
        Written into every row (overrides any slide_id column in ``coords``).
    patient_id : str, optional
        Defaults to :func:`featx.barcodes.patient_id_from_slide`.
    dtype : {"float32", "float16"}
        Storage type of the embeddings; float16 halves the disk.
    provenance : mapping, optional
        JSON-serialisable; stored as the file's schema metadata.

    Returns
    -------
    pyarrow.Table
    """
    file_name("slide_id", slide_id)
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] != len(coords):
        raise InvalidParameterError(
            "features", f"an array of shape ({len(coords)}, n_features) matching coords",
            features.shape)
    if features.shape[1] == 0:
        raise InvalidParameterError("features", "at least one feature per tile", features.shape)
    if not np.isfinite(features).all():
        raise InvalidParameterError("features", "finite numbers (no NaN or inf)", "non-finite values")
    missing = [c for c in _FROM_TILE_TABLE if c not in coords.columns]
    if missing:
        raise InvalidParameterError("coords", "the tiling table's columns", f"missing {missing}")
    n, n_features = features.shape
    schema = embedding_schema(n_features, dtype=dtype)
    patient = patient_id if patient_id is not None else patient_id_from_slide(slide_id)
    columns: dict[str, Any] = {
        "slide_id": np.full(n, slide_id, dtype=object),
        "patient_id": np.full(n, patient, dtype=object),
        "stain_status": _coords_column(coords, "stain_status", n, "none").astype(str).astype(object),
    }
    for name in _FROM_TILE_TABLE:
        columns[name] = coords[name].to_numpy()
    arrays = [pa.array(columns[name], type=_COLUMN_TYPES[name]) for name in TILE_COLUMNS]
    flat = pa.array(features.astype(schema.field("embedding").type.value_type.to_pandas_dtype(),
                                     copy=False).ravel())
    arrays.append(pa.FixedSizeListArray.from_arrays(flat, type=schema.field("embedding").type))
    metadata = {PROVENANCE_KEY: json.dumps(dict(provenance or {}), sort_keys=True).encode()}
    return pa.Table.from_arrays(arrays, schema=schema.with_metadata(metadata))


def write_table_atomic(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` to ``path`` so that ``path`` is either absent or complete.

    The table goes to a hidden temporary file in the same folder
    (``.<name>.<random>.tmp``, ignored by Parquet readers), is fsynced, then
    renamed over ``path`` (:func:`featx._io.atomic_path`). A crash at any
    moment leaves at most a temporary file, never a partial ``path``.
    """
    path = Path(path)
    scalar_cols = [c for c in table.column_names if c != "embedding"]
    with atomic_path(path) as tmp:
        pq.write_table(
            table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd",
            # Statistics and dictionaries help the id and coordinate columns;
            # on float embeddings they only cost time and space.
            write_statistics=scalar_cols, use_dictionary=scalar_cols,
        )
    return path


def write_slide_embeddings(
    root: str | Path,
    coords: pd.DataFrame,
    features: np.ndarray,
    *,
    extractor: str,
    slide_id: str,
    patient_id: str | None = None,
    dtype: str = "float32",
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write one slide's tile embeddings to the store, atomically.

    Parameters
    ----------
    root : path
        The store's root folder (created if needed).
    coords : DataFrame
        The tiling table, one row per tile (see :func:`to_table`).
    features : ndarray, shape (n_tiles, n_features)
        The embeddings. Zero tiles is allowed: an empty file records that the
        slide was processed and had no tissue.
    extractor : str
        The extractor's name; it names the partition folder.
    slide_id : str
        The slide's identifier; it names the file.
    patient_id : str, optional
        Defaults to the TCGA patient barcode or the slide id.
    dtype : {"float32", "float16"}
        Storage type of the embeddings.
    provenance : mapping, optional
        Stored as JSON in the file metadata; ``featx_version``, ``extractor_name``,
        ``embedding_dtype`` and ``n_tiles`` are added.

    Returns
    -------
    Path
        The file written: ``root/extractor=<extractor>/<slide_id>.parquet``.
    """
    path = slide_path(root, extractor=extractor, slide_id=slide_id)
    full = {"featx_version": __version__, "store_format": STORE_FORMAT, **dict(provenance or {}),
            "extractor_name": extractor, "embedding_dtype": dtype, "n_tiles": int(len(coords))}
    table = to_table(coords, features, slide_id=slide_id, patient_id=patient_id, dtype=dtype,
                     provenance=full)
    return write_table_atomic(table, path)


def provenance(path: str | Path) -> dict[str, Any]:
    """Return the provenance stored in a store file's metadata (reads the footer only)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"store file {path}", "Run `featx extract` to create it.")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as error:
        raise StoreError(path, f"damaged: not a readable Parquet file "
                         f"({str(error).splitlines()[0]:.100}); rerun featx extract, which "
                         "redoes it") from None
    if PROVENANCE_KEY not in metadata:
        raise StoreError(path, "no featx provenance in its metadata: it was not written by featx "
                         "(`featx extract` or featx.embed.write_slide_embeddings)")
    return json.loads(metadata[PROVENANCE_KEY])


def slide_geometry(record: Mapping[str, Any], tiles: pd.DataFrame) -> tuple[Any, float | None]:
    """A store file's level downsamples and level-0 mpp, from its provenance ``record``.

    Imported embeddings record none, but their tiles are level-0 squares (None is
    then right for :func:`featx.wsi.tile_grid.tile_extent_l0`).

    Raises
    ------
    DataError
        Tiles were read above level 0 and the provenance does not say the downsamples.
    """
    slide = (record.get("pipeline") or {}).get("slide") or {}
    downsamples = slide.get("level_downsamples")
    if downsamples is None and len(tiles) and (tiles["level"] != 0).any():
        raise DataError(f"store file of slide {tiles['slide_id'].iloc[0]}",
                        "tiles read above level 0 but no level downsamples in its provenance",
                        "Extract it again with featx extract")
    return downsamples, slide.get("slide_mpp")


def is_done(path: str | Path, expected_provenance: Mapping[str, Any]) -> bool:
    """Return whether ``path`` is a complete store file made with this configuration.

    True when the file exists, its footer is readable (so it is complete) and each
    key of ``expected_provenance`` has the same value in the stored provenance
    (compared after a JSON round trip, so tuples equal lists). Keys not in
    ``expected_provenance`` (e.g. timings) are ignored; an expected ``None`` also
    matches a file without the key, so a new setting left at its default does not
    redo stores written before it existed.
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        stored = provenance(path)
    except (StoreError, OSError, pa.ArrowException, ValueError):
        return False
    expected = json.loads(json.dumps(dict(expected_provenance), sort_keys=True))
    return all(stored.get(key) == value if value is None else
               key in stored and stored[key] == value for key, value in expected.items())


def check_file(path: str | Path) -> str:
    """What is wrong with a store file, or ``""`` when it is whole.

    Reads the footer only: it must parse, carry featx's provenance, and the file must hold
    the rows that provenance counts (``n_tiles``). A file truncated or overwritten after
    featx wrote it fails here; :func:`is_done` then makes ``featx extract`` redo it.
    """
    try:
        metadata = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as error:
        return f"not a readable Parquet file ({str(error).splitlines()[0]:.100})"
    stored = (metadata.metadata or {}).get(PROVENANCE_KEY)
    if stored is None:
        return "no featx provenance: featx did not write it"
    try:
        n_tiles = json.loads(stored).get("n_tiles")
    except (ValueError, AttributeError):
        return "its provenance is not JSON"
    if n_tiles is not None and n_tiles != metadata.num_rows:
        return f"holds {metadata.num_rows} rows where its provenance counts {n_tiles}"
    return ""


def damaged_files(root: str | Path, *, extractor: str) -> dict[str, str]:
    """``slide_id -> problem`` for each of ``extractor``'s store files that :func:`check_file` fails."""
    problems = {slide: check_file(slide_path(root, extractor=extractor, slide_id=slide))
                for slide in list_slides(root, extractor=extractor)}
    return {slide: problem for slide, problem in problems.items() if problem}


def check_store(root: str | Path, *, extractor: str | None = None) -> list[str]:
    """The extractors of a whole store to read from, or one line saying why there are none.

    Parameters
    ----------
    root : path
        The store's root folder.
    extractor : str, optional
        Only this one (it must be in the store).

    Returns
    -------
    list of str
        ``[extractor]``, or every extractor of the store.

    Raises
    ------
    DataNotFoundError
        ``root`` is not a folder, or ``extractor`` is not in it.
    StoreError
        ``root`` holds no ``extractor=NAME`` folder, or some of the files to read are
        damaged (:func:`check_file`; ``featx extract`` redoes them).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"store folder {root}", "Pass the folder `featx extract` or "
                                "`featx import` wrote.")
    names = list_extractors(root)
    if not names:
        raise StoreError(root, "not a featx store: it holds no extractor=NAME folders; pass the "
                         "folder `featx extract` or `featx import` wrote")
    if extractor is not None and extractor not in names:
        raise DataNotFoundError(f"extractor {extractor!r} in {root}",
                                f"Extractors in the store: {names}")
    wanted = [extractor] if extractor is not None else names
    damaged = [f"{name}/{slide} ({problem})" for name in wanted
               for slide, problem in damaged_files(root, extractor=name).items()]
    if damaged:
        raise StoreError(root, f"{len(damaged)} store files are damaged: "
                         f"{'; '.join(damaged[:3])}{'; ...' if len(damaged) > 3 else ''}. Rerun "
                         "featx extract (it redoes them), then try again")
    return wanted


def read_slide(
    root: str | Path,
    slide_id: str,
    *,
    extractor: str,
    as_: Literal["pandas", "arrow", "numpy"] = "pandas",
    columns: Iterable[str] | None = None,
) -> pd.DataFrame | pa.Table | np.ndarray:
    """Read one slide's rows; opens that slide's file only.

    Parameters
    ----------
    root : path
        The store's root folder.
    slide_id : str
        The slide to read.
    extractor : str
        Which extractor's embeddings.
    as_ : {"pandas", "arrow", "numpy"}
        ``"pandas"``: a DataFrame whose ``embedding`` column holds one array per
        row; ``"arrow"``: the Arrow table; ``"numpy"``: the (n_tiles, n_features)
        float32 embedding matrix.
    columns : iterable of str, optional
        Columns to read (pandas/arrow only); default all.
    """
    one_of("as_", as_, ("pandas", "arrow", "numpy"))
    path = slide_path(root, extractor=extractor, slide_id=slide_id)
    if not path.is_file():
        raise DataNotFoundError(
            f"embeddings of slide {slide_id!r} by {extractor!r} ({path})",
            "Check the slide id and extractor name, or run `featx extract`.")
    if as_ == "numpy":
        return embedding_matrix(pq.read_table(path, columns=["embedding"]))
    table = pq.read_table(path, columns=list(columns) if columns is not None else None)
    return table if as_ == "arrow" else table.to_pandas()


def embedding_matrix(table: pa.Table, *, dtype: type = np.float32) -> np.ndarray:
    """Return the ``embedding`` column of ``table`` as an (n_rows, n_features) array."""
    column = table.column("embedding").combine_chunks()
    n_features = column.type.list_size
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(column), n_features).astype(dtype, copy=False)


def dataset(root: str | Path, *, extractor: str | None = None) -> ds.Dataset:
    """Return the store (or one extractor's partition) as a :class:`pyarrow.dataset.Dataset`.

    The ``extractor`` column comes from the hive partition folder. Extractors of
    different embedding widths or dtypes cannot share one dataset schema: pass
    ``extractor`` to read one partition.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"store folder {root}", "Run `featx extract` to create it.")
    if extractor is None:
        return ds.dataset(root, format="parquet", partitioning="hive")
    files = [root / f"extractor={extractor}" / f"{s}.parquet"
             for s in list_slides(root, extractor=extractor)]
    return _files_dataset(root, files)


def _files_dataset(root: Path, files: list[Path]) -> ds.Dataset:
    # A list of files (not a folder) so only they are opened; the base dir keeps the
    # extractor=<name> folder visible to hive partitioning.
    return ds.dataset([str(f) for f in files], format="parquet", partitioning="hive",
                      partition_base_dir=str(root))


def list_extractors(root: str | Path) -> list[str]:
    """Return the extractor names that have a partition folder under ``root``, sorted."""
    return sorted(p.name.split("=", 1)[1] for p in Path(root).glob("extractor=*") if p.is_dir())


def list_slides(root: str | Path, *, extractor: str) -> list[str]:
    """Return the slide ids stored for ``extractor``, sorted (from file names, no reads)."""
    folder = Path(root) / f"extractor={file_name('extractor', extractor)}"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))


def read_store(
    root: str | Path,
    *,
    extractor: str | None = None,
    slide_ids: Iterable[str] | None = None,
    as_: Literal["pandas", "arrow", "numpy"] = "pandas",
    columns: Iterable[str] | None = None,
) -> pd.DataFrame | pa.Table | np.ndarray:
    """Read many slides (default: the whole store) as one table.

    Parameters
    ----------
    root : path
        The store's root folder.
    extractor : str, optional
        Only this extractor's partition. Without it, every extractor is read and
        the tables concatenated, which needs equal embedding widths and dtypes.
    slide_ids : iterable of str, optional
        Only these slides; only their files are opened.
    as_ : {"pandas", "arrow", "numpy"}
        See :func:`read_slide`; the table has an ``extractor`` column.
    columns : iterable of str, optional
        Columns to read (pandas/arrow only).
    """
    one_of("as_", as_, ("pandas", "arrow", "numpy"))
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"store folder {root}", "Run `featx extract` to create it.")
    names = [extractor] if extractor is not None else list_extractors(root)
    wanted = None if slide_ids is None else list(dict.fromkeys(slide_ids))
    cols = ["embedding"] if as_ == "numpy" else (list(columns) if columns is not None else None)
    tables = []
    for name in names:
        if wanted is None:
            files = [slide_path(root, extractor=name, slide_id=s)
                     for s in list_slides(root, extractor=name)]
        else:
            files = [slide_path(root, extractor=name, slide_id=s) for s in wanted]
            absent = [p.stem for p in files if not p.is_file()]
            if absent and extractor is not None:
                raise DataNotFoundError(f"slides {absent[:5]} of extractor {name!r}",
                                        "Run `featx extract` for them first.")
            files = [p for p in files if p.is_file()]
        if files:
            tables.append(_files_dataset(root, files).to_table(columns=cols))
    if not tables:
        raise DataNotFoundError(f"embeddings in {root}" + (f" for {extractor!r}" if extractor else ""),
                                "Run `featx extract` first.")
    try:
        table = pa.concat_tables(tables)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise StoreError(root, f"extractors {names} store embeddings of different widths or "
                         f"dtypes and cannot be read as one table ({error}); pass "
                         "extractor=<name> to read one of them") from None
    if as_ == "numpy":
        return embedding_matrix(table)
    return table if as_ == "arrow" else table.to_pandas()
