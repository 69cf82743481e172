"""featx.embed.formats.tables: feature tables with many slides, with or without tile coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featx.embed.formats.tables import read_feature_table
from featx.errors import DataError
from tests.embed.formats._foreign_files import grid

FEATURES = np.random.default_rng(7).normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def test_tables_hold_many_slides(tmp_path):
    frame = pd.DataFrame(FEATURES, columns=[f"feat_{i}" for i in range(8)])
    frame.insert(0, "slide", ["A"] * 6 + ["B"] * 6)
    frame.insert(1, "x", COORDS[:, 0])
    frame.insert(2, "y", COORDS[:, 1])
    frame.to_csv(tmp_path / "t.csv", index=False)
    slides = read_feature_table(tmp_path / "t.csv", slide_column="slide")
    assert [s.slide_id for s in slides] == ["A", "B"]
    np.testing.assert_allclose(np.concatenate([s.features for s in slides]), FEATURES, rtol=1e-6)
    np.testing.assert_array_equal(slides[1].coords["x"], COORDS[6:, 0])
    slide_level = frame.drop(columns=["x", "y"]).groupby("slide").mean().reset_index()
    slide_level.to_parquet(tmp_path / "slides.parquet")
    rows = read_feature_table(tmp_path / "slides.parquet", slide_column="slide",
                              feature_prefix="feat_")
    assert [len(s.coords) for s in rows] == [1, 1] and rows[0].coords["x"].iloc[0] == -1
    with pytest.raises(DataError, match="no slide column 'slide_id'"):
        read_feature_table(tmp_path / "t.csv")
    frame.assign(feat_0="text").to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match=r"non-numeric feature columns \['feat_0'\]"):
        read_feature_table(tmp_path / "text.csv", slide_column="slide", feature_prefix="feat_")
