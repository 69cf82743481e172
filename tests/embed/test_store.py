"""The Parquet store: layout, schema, provenance, atomicity, and reads by other tools."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from featx import __version__
from featx.embed.store import (
    StoreError,
    embedding_schema,
    is_done,
    list_slides,
    patient_id_from_slide,
    provenance,
    read_slide,
    read_store,
    slide_path,
    write_slide_embeddings,
)
from featx.errors import DataNotFoundError, InvalidParameterError

TCGA = "TCGA-55-8514-01A-01-TS1.0e0f5cf3-96e9-4a35-aaed-4340df78d389"


def _coords(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    col, row = np.arange(n) % 7, np.arange(n) // 7
    return pd.DataFrame({
        "slide_id": "ignored", "col": col, "row": row, "x": col * 448, "y": row * 448,
        "level": 0, "read_px": 448, "tile_px": 224, "tile_mpp": 0.5,
        "tissue_fraction": rng.uniform(0.8, 1.0, n).astype(np.float32),
        "stain_status": np.where(np.arange(n) % 5 == 0, "fallback", "ok"),
    })


def _write_cohort(root, dtype="float32"):
    """Three slides of two extractors; returns {slide: (coords, features)} of extractor A."""
    truth = {}
    for i, slide in enumerate([TCGA, "TCGA-22-5477-01A-01-TS1.25b8", "plain_slide"]):
        n = 10 + 3 * i
        coords = _coords(n, i)
        feats = np.random.default_rng(i).normal(size=(n, 6)).astype(np.float32)
        write_slide_embeddings(root, coords, feats, extractor="A", slide_id=slide, dtype=dtype,
                               provenance={"tile_spec": {"tile_px": 224, "tile_mpp": 0.5}})
        write_slide_embeddings(root, coords, feats + 1, extractor="B", slide_id=slide)
        truth[slide] = (coords, feats)
    return truth


def test_patient_ids():
    assert patient_id_from_slide(TCGA) == "TCGA-55-8514"
    assert patient_id_from_slide("case7_slide2") == "case7_slide2"
    assert patient_id_from_slide("case7_slide2", {"case7_slide2": "case7"}) == "case7"


def test_layout_schema_and_values(tmp_path):
    truth = _write_cohort(tmp_path)
    path = slide_path(tmp_path, extractor="A", slide_id=TCGA)
    assert path == tmp_path / "extractor=A" / f"{TCGA}.parquet"
    assert path.is_file()
    schema = pq.read_schema(path)
    assert schema.remove_metadata() == embedding_schema(6)
    assert schema.field("embedding").type.list_size == 6
    assert schema.field("embedding").type.value_type == pa.float32()
    # Statistics on the id column let readers skip row groups by slide.
    stats = pq.ParquetFile(path).metadata.row_group(0).column(0).statistics
    assert stats.has_min_max and stats.min == TCGA
    df = read_slide(tmp_path, TCGA, extractor="A")
    coords, feats = truth[TCGA]
    assert (df["slide_id"] == TCGA).all() and (df["patient_id"] == "TCGA-55-8514").all()
    np.testing.assert_array_equal(df["x"], coords["x"])
    np.testing.assert_array_equal(df["stain_status"], coords["stain_status"])
    np.testing.assert_array_equal(np.stack(df["embedding"]), feats)
    np.testing.assert_array_equal(read_slide(tmp_path, TCGA, extractor="A", as_="numpy"), feats)
    assert list_slides(tmp_path, extractor="A") == sorted(truth)


def test_store_keeps_every_tile_table_column(tmp_path):
    """A stored tile can be read again from its slide: nothing downstream rebuilds read_px."""
    from featx.wsi import TILE_TABLE_COLUMNS

    truth = _write_cohort(tmp_path)
    df = read_slide(tmp_path, TCGA, extractor="A")
    assert set(TILE_TABLE_COLUMNS) <= set(df.columns)
    coords, _ = truth[TCGA]
    for column in TILE_TABLE_COLUMNS:
        if column != "slide_id":
            np.testing.assert_allclose(df[column].to_numpy(float), coords[column].to_numpy(float),
                                       rtol=1e-6)
    with pytest.raises(InvalidParameterError, match="read_px"):
        write_slide_embeddings(tmp_path, coords.drop(columns="read_px"), truth[TCGA][1],
                               extractor="A", slide_id="x")


def test_float16_halves_embedding(tmp_path):
    truth = _write_cohort(tmp_path, dtype="float16")
    got = read_slide(tmp_path, "plain_slide", extractor="A", as_="numpy")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, truth["plain_slide"][1], rtol=1e-3, atol=1e-3)
    field = pq.read_schema(slide_path(tmp_path, extractor="A", slide_id="plain_slide")).field(
        "embedding")
    assert str(field.type.value_type) == "halffloat"


def test_provenance_round_trip_and_is_done(tmp_path):
    prov = {"extractor": {"name": "A", "weights_sha256": "ab" * 32},
            "tile_spec": {"tile_px": 224, "tile_mpp": 0.5, "min_tissue": 0.8},
            "stain": {"method": "macenko", "stain_matrix": [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]]},
            "slide": {"size": 123, "partial_sha256": "cd" * 32}}
    coords = _coords(4, 0)
    path = write_slide_embeddings(tmp_path, coords, np.ones((4, 3)), extractor="A",
                                  slide_id="s1", provenance=prov)
    got = provenance(path)
    assert {k: got[k] for k in prov} == prov
    assert got["featx_version"] == __version__ and got["n_tiles"] == 4
    assert got["embedding_dtype"] == "float32" and got["extractor_name"] == "A"
    assert is_done(path, prov)
    assert not is_done(path, {**prov, "slide": {"size": 124, "partial_sha256": "cd" * 32}})
    assert not is_done(path, {**prov, "new_key": 1})
    assert not is_done(tmp_path / "absent.parquet", prov)
    # A truncated file (a crash of a non-atomic writer) is not done.
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert not is_done(broken, prov)


def test_empty_slide_is_a_valid_file(tmp_path):
    path = write_slide_embeddings(tmp_path, _coords(0, 0), np.zeros((0, 6)), extractor="A",
                                  slide_id="blank")
    assert provenance(path)["n_tiles"] == 0
    assert read_slide(tmp_path, "blank", extractor="A", as_="numpy").shape == (0, 6)


def test_bad_input_is_refused(tmp_path):
    coords = _coords(3, 0)
    with pytest.raises(InvalidParameterError, match="features"):
        write_slide_embeddings(tmp_path, coords, np.ones((2, 3)), extractor="A", slide_id="s")
    bad = np.ones((3, 3))
    bad[1, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="finite"):
        write_slide_embeddings(tmp_path, coords, bad, extractor="A", slide_id="s")
    with pytest.raises(InvalidParameterError, match="slide_id"):
        write_slide_embeddings(tmp_path, coords, np.ones((3, 3)), extractor="A", slide_id="../x")
    with pytest.raises(InvalidParameterError, match="dtype"):
        write_slide_embeddings(tmp_path, coords, np.ones((3, 3)), extractor="A", slide_id="s",
                               dtype="float64")
    with pytest.raises(DataNotFoundError):
        read_slide(tmp_path, "nope", extractor="A")
    assert not list(tmp_path.rglob("*.parquet"))


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    import featx._io

    monkeypatch.setattr(featx._io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_slide_embeddings(tmp_path, _coords(3, 0), np.ones((3, 2)), extractor="A",
                               slide_id="s")
    assert list((tmp_path / "extractor=A").iterdir()) == []


def test_temp_files_are_invisible_to_readers(tmp_path):
    _write_cohort(tmp_path)
    # What a writer killed mid-write leaves behind.
    (tmp_path / "extractor=A" / f".{TCGA}.parquet.abc123.tmp").write_bytes(b"PAR1 garbage")
    (tmp_path / "extractor=A" / "_status.csv").write_text("slide_id,status\n")
    assert read_store(tmp_path, extractor="A").shape[0] == 10 + 13 + 16


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["extractor", "slide_id", "row", "col"]).reset_index(drop=True)


def test_whole_store_reads_identically_with_pandas_arrow_duckdb_polars(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    truth = _write_cohort(tmp_path)
    scalar = ["extractor", "slide_id", "patient_id", "x", "y", "level", "tile_mpp", "tile_px",
              "tissue_fraction", "stain_status", "col", "row"]

    ours = _sorted(read_store(tmp_path))
    via_pandas = _sorted(pd.read_parquet(tmp_path))
    via_arrow = _sorted(ds.dataset(tmp_path, format="parquet", partitioning="hive")
                        .to_table().to_pandas())
    glob = str(tmp_path / "**" / "*.parquet")
    via_duckdb = _sorted(duckdb.sql(
        f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true)").df())
    via_polars = _sorted(pl.read_parquet(glob, hive_partitioning=True).to_pandas())

    assert len(ours) == 2 * sum(len(c) for c, _ in truth.values())
    for other in (via_pandas, via_arrow, via_duckdb, via_polars):
        assert set(other.columns) == set(ours.columns)
        for name in scalar:
            np.testing.assert_array_equal(other[name].astype(str), ours[name].astype(str),
                                          err_msg=name)
        for ext in ("A", "B"):
            mine = np.stack(ours.loc[ours.extractor == ext, "embedding"])
            theirs = np.stack([np.asarray(v) for v in other.loc[other.extractor == ext,
                                                                "embedding"]])
            np.testing.assert_array_equal(theirs.astype(np.float32), mine)
    a = ours[ours.extractor == "A"]
    np.testing.assert_array_equal(
        np.stack(a.loc[a.slide_id == TCGA, "embedding"]), truth[TCGA][1])
    # DuckDB reads the provenance without featx too.
    meta = duckdb.sql(f"SELECT key, value FROM parquet_kv_metadata('{glob}')").fetchall()
    assert any(k == b"featx" and json.loads(v)["extractor_name"] in ("A", "B") for k, v in meta)


def test_selective_reads(tmp_path):
    truth = _write_cohort(tmp_path)
    two = [TCGA, "plain_slide"]
    got = read_store(tmp_path, extractor="A", slide_ids=two, as_="numpy")
    np.testing.assert_array_equal(got, np.concatenate([truth[s][1] for s in two]))
    # The filtered dataset path (no extractor given) finds the same rows.
    df = read_store(tmp_path, slide_ids=["plain_slide"])
    assert set(df.extractor) == {"A", "B"} and len(df) == 2 * 16
    assert read_store(tmp_path, extractor="B", as_="numpy").shape == (39, 6)


def test_extractors_of_different_widths_read_per_partition(tmp_path):
    _write_cohort(tmp_path)
    write_slide_embeddings(tmp_path, _coords(5, 0), np.ones((5, 3)), extractor="C",
                           slide_id="plain_slide")
    assert read_store(tmp_path, extractor="C", as_="numpy").shape == (5, 3)
    assert read_store(tmp_path, extractor="A", as_="numpy").shape == (39, 6)
    with pytest.raises(StoreError, match="extractor=<name>"):
        read_store(tmp_path)


def test_read_slide_opens_only_its_file(tmp_path):
    _write_cohort(tmp_path)
    # Make every other file unreadable: a read that touched them would fail.
    for path in (tmp_path / "extractor=A").glob("*.parquet"):
        if path.stem != "plain_slide":
            path.write_bytes(b"not parquet")
    assert len(read_slide(tmp_path, "plain_slide", extractor="A")) == 16
    got = read_store(tmp_path, extractor="A", slide_ids=["plain_slide"], as_="numpy")
    assert got.shape == (16, 6)


def test_check_file_reads_the_footer_and_counts_the_rows(tmp_path):
    from featx.embed.store import check_file, damaged_files
    from featx.errors import StoreError

    _write_cohort(tmp_path)
    assert damaged_files(tmp_path, extractor="A") == {}
    half = slide_path(tmp_path, extractor="A", slide_id="plain_slide")
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])  # half-truncated
    short = slide_path(tmp_path, extractor="A", slide_id=TCGA)
    table = pq.read_table(short)  # a file holding fewer rows than its provenance counts
    pq.write_table(table.slice(0, 4).replace_schema_metadata(table.schema.metadata), short)
    foreign = tmp_path / "extractor=A" / "foreign.parquet"
    pq.write_table(pa.table({"a": [1]}), foreign)
    damaged = damaged_files(tmp_path, extractor="A")
    assert set(damaged) == {"plain_slide", TCGA, "foreign"}
    assert damaged["plain_slide"].startswith("not a readable Parquet file")
    assert damaged[TCGA] == "holds 4 rows where its provenance counts 10"
    assert damaged["foreign"] == "no featx provenance: featx did not write it"
    assert check_file(slide_path(tmp_path, extractor="B", slide_id=TCGA)) == ""
    with pytest.raises(StoreError, match="plain_slide.parquet: damaged: not a readable Parquet"):
        provenance(half)
