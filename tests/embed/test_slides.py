"""The slide table of a batch run: paths, ids, patients and the optional slide_mpp column."""

from __future__ import annotations

import pandas as pd
import pytest

from featx.embed.slides import slide_table
from featx.errors import InvalidParameterError
from featx.wsi.slide import default_slide_id


def test_slide_table_from_paths_and_overrides(tmp_path):
    (tmp_path / "a.svs").write_bytes(b"x")
    table = pd.DataFrame({"path": ["a.svs", str(tmp_path / "b.svs")],
                          "patient_id": ["", "P2"]})
    slides = slide_table(table, tmp_path, patients={"a": "P1"})
    assert slides["slide_id"].tolist() == ["a", "b"]
    assert slides["patient_id"].tolist() == ["P1", "P2"]
    assert slides["exists"].tolist() == [True, False]
    with pytest.raises(InvalidParameterError, match="one row per slide"):
        slide_table(pd.DataFrame({"path": ["a.svs", "a.svs"]}), tmp_path)
    with pytest.raises(InvalidParameterError, match="path"):
        slide_table(pd.DataFrame({"file": ["a.svs"]}), tmp_path)



def test_slide_ids_and_mpp_column_of_a_slide_table(tmp_path):
    table = pd.DataFrame({"path": ["a/case1.ome.tif", "b/case2.OME.TIFF", "c/TCGA-AA-1.svs"],
                          "slide_mpp": ["0.25", "", " 0.5 "]})
    slides = slide_table(table, tmp_path)
    # The same ids as `featx info` and `featx tile` give (open_slide's default).
    assert slides["slide_id"].tolist() == ["case1", "case2", "TCGA-AA-1"]
    assert [default_slide_id(p) for p in slides["path"]] == slides["slide_id"].tolist()
    assert slides["slide_mpp"].tolist() == [0.25, None, 0.5]
    with pytest.raises(InvalidParameterError, match="case1"):
        slide_table(table.assign(slide_mpp=["250", "", ""]), tmp_path)  # nanometres, not microns


def test_an_old_mpp_column_is_refused_with_its_new_name(tmp_path):
    with pytest.raises(InvalidParameterError, match="rename the 'mpp' column to 'slide_mpp'"):
        slide_table(pd.DataFrame({"path": ["a.svs"], "mpp": ["0.25"]}), tmp_path)
