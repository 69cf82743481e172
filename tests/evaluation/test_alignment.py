"""Joining embeddings to targets by patient: mapping, intersection and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featx.errors import DataError
from featx.evaluation.alignment import align, check_binary, check_continuous, mean_by_patient, patient_ids


def test_tcga_barcodes_map_to_their_patient():
    ids = patient_ids(["TCGA-05-4244-01Z-00-DX1", "tcga-05-4249-01A", "TCGA-L9-A444"])
    assert list(ids) == ["TCGA-05-4244", "TCGA-05-4249", "TCGA-L9-A444"]
    with pytest.raises(DataError, match="id_mode='exact'"):
        patient_ids(["slide_1"])
    assert list(patient_ids(["slide_1"], id_mode="exact")) == ["slide_1"]


def test_align_intersects_sorts_and_counts_dropped():
    feats = {
        "A": pd.DataFrame(np.arange(8.0).reshape(4, 2),
                          index=[f"TCGA-AA-000{i}-01Z-00-DX1" for i in (3, 1, 2, 9)]),
        "B": pd.DataFrame(np.ones((3, 5)), index=[f"TCGA-AA-000{i}" for i in (1, 2, 3)]),
    }
    targets = pd.Series([1.0, 2.0, 3.0, 4.0], index=[f"TCGA-AA-000{i}" for i in (1, 2, 3, 4)],
                        name="g")
    with pytest.warns(UserWarning, match=r"1 of 4 rows of features\['A'\]; 1 of 4 rows of "
                      r"targets; 3 rows kept"):
        data = align(feats, targets)
    assert list(data.ids) == ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0003"]
    assert data.features["A"][:, 0].tolist() == [2.0, 4.0, 0.0]  # reordered to ids
    assert data.features["B"].shape == (3, 5)
    assert data.dropped == {"A": 1, "B": 0, "targets": 1}
    assert list(data.targets["g"]) == [1.0, 2.0, 3.0]


def test_duplicated_patients_are_refused_with_the_fix():
    feats = {"A": pd.DataFrame(np.ones((2, 2)), index=["TCGA-AA-0001-01Z-00-DX1",
                                                        "TCGA-AA-0001-01Z-00-DX2"])}
    with pytest.raises(DataError, match="duplicated IDs.*mean_by_patient"):
        align(feats, pd.Series([1.0], index=["TCGA-AA-0001"]))
    pooled = mean_by_patient(pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], index=feats["A"].index))
    assert pooled.loc["TCGA-AA-0001"].tolist() == [2.0, 3.0]


def test_no_overlap_and_bad_features_are_refused():
    feats = {"A": pd.DataFrame(np.ones((2, 2)), index=["TCGA-AA-0001", "TCGA-AA-0002"])}
    with pytest.raises(DataError, match="no ID is in every table"):
        align(feats, pd.Series([1.0], index=["TCGA-BB-0001"]))
    nan = {"A": pd.DataFrame([[np.nan, 1.0]], index=["TCGA-AA-0001"])}
    with pytest.raises(DataError, match="NaN"):
        align(nan, pd.Series([1.0], index=["TCGA-AA-0001"]))
    text = {"A": pd.DataFrame({"x": ["a"]}, index=["TCGA-AA-0001"])}
    with pytest.raises(DataError, match="non-numeric"):
        align(text, pd.Series([1.0], index=["TCGA-AA-0001"]))


def test_target_checks():
    with pytest.raises(DataError, match="NaN.*'b'"):
        check_continuous(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, np.nan]}))
    with pytest.raises(DataError, match="constant targets \\['a'\\]"):
        check_continuous(pd.DataFrame({"a": [1.0, 1.0], "b": [1.0, 2.0]}))
    with pytest.raises(DataError, match="only 2 patients in the minority class"):
        check_binary(pd.DataFrame({"g": [1, 1] + [0] * 10}), n_splits=5)
    with pytest.raises(DataError, match="not 0/1"):
        check_binary(pd.DataFrame({"g": [0, 1, 2] * 5}), n_splits=5)
    with pytest.raises(DataError, match="every patient is 0 .*constant") as caught:
        check_binary(pd.DataFrame({"g": [0] * 12}), n_splits=5)
    assert "fewer folds" not in str(caught.value)


def test_read_embeddings_store_pooled_and_wide_tables(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from featx.evaluation.embedding_tables import embedding_sources, read_embeddings

    store = pa.table({"slide_id": ["TCGA-AA-0001-01Z-00-DX1"] * 2, "patient_id": ["TCGA-AA-0001"] * 2,
                      "x": [0, 224], "embedding": pa.FixedSizeListArray.from_arrays(
                          pa.array(np.arange(6, dtype=np.float32)), 3)})
    (tmp_path / "store" / "extractor=FTX").mkdir(parents=True)
    pq.write_table(store, tmp_path / "store" / "extractor=FTX" / "s1.parquet")
    pooled = pd.DataFrame({"patient_id": ["TCGA-AA-0001"], "n_slides": [1], "n_tiles": [2],
                           "f0000": [1.5], "f0001": [2.5]})
    pooled.to_parquet(tmp_path / "IMGNET.parquet", index=False)
    sources = embedding_sources([str(tmp_path / "store"), str(tmp_path / "IMGNET.parquet")])
    assert sorted(sources) == ["FTX", "IMGNET"]
    ftx = read_embeddings(sources["FTX"])
    assert ftx.shape == (2, 3) and list(ftx.index) == ["TCGA-AA-0001"] * 2
    assert mean_by_patient(ftx).to_numpy().tolist() == [[1.5, 2.5, 3.5]]
    imgnet = read_embeddings(sources["IMGNET"])
    assert list(imgnet.columns) == ["f0000", "f0001"]  # counts are not features
    with pytest.raises(DataError, match="--id-column"):
        read_embeddings(sources["IMGNET"], id_column="barcode")


def test_partial_overlap_is_recorded_in_the_provenance(tmp_path):
    import json

    from featx.evaluation.expression import regress_expression

    rng = np.random.default_rng(0)
    ids = [f"TCGA-AA-{i:04d}" for i in range(40)]
    feats = {"A": pd.DataFrame(rng.normal(size=(40, 3)), index=ids),
             "B": pd.DataFrame(rng.normal(size=(20, 3)), index=ids[:20])}
    targets = pd.DataFrame({"g": rng.normal(size=40) ** 2}, index=ids)
    with pytest.warns(UserWarning, match=r"20 of 40 rows of features\['A'\]; 20 of 40 rows "
                      "of targets; 20 rows kept"):
        result = regress_expression(feats, targets, n_splits=2, n_repeats=1)
    assert result.dropped == {"A": 20, "B": 0, "targets": 20}
    result.save(tmp_path)
    record = json.loads((tmp_path / "expression_provenance.json").read_text())
    assert record["dropped_rows"] == {"A": 20, "B": 0, "targets": 20}


def test_tile_ids_of_several_tiles_per_patient_are_recognised():
    from featx.evaluation.alignment import likely_owners, warn_if_grouped

    owners = likely_owners(["slide7_0012_0340.png", "slide7_0012_0341.png", "s8-3",
                            "TCGA-05-4244-01Z-00-DX1_1_2", "lungaca12.jpeg"])
    assert list(owners) == ["slide7", "slide7", "s8", "TCGA-05-4244", "lungaca12"]
    with pytest.warns(UserWarning, match="4 tile IDs look like they come from 2 patients"):
        warn_if_grouped(pd.Index(["p1_0_0", "p1_0_1", "p2_0_0", "p2_1_0"]))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_grouped(pd.Index([f"tile{i:03d}" for i in range(10)]))  # one tile each
