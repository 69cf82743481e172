"""featx.embed.formats.h5: TRIDENT and CLAM h5 told apart, bad files named, featx's own h5 read back."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from featx.embed.formats.h5 import h5_format, h5_provenance, read_h5, write_h5
from featx.errors import DataError, MissingExtraError
from tests.embed.formats._foreign_files import grid, write_clam, write_trident

FEATURES = np.random.default_rng(7).normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def test_the_tool_is_told_by_its_attributes(tmp_path):
    assert h5_format(write_trident(tmp_path / "a.h5", FEATURES, COORDS)) == "trident"
    assert h5_format(write_clam(tmp_path / "b.h5", FEATURES, COORDS)) == "clam"
    (tmp_path / "c.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="cannot be opened as HDF5"):
        h5_format(tmp_path / "c.h5")
    assert h5_provenance(tmp_path / "a.h5") is None


def test_write_h5_reads_back_as_the_store_file_it_was(tmp_path):
    table = pd.DataFrame({"x": COORDS[:, 0], "y": COORDS[:, 1], "patient_id": "P1",
                          "level": 0, "read_px": 512, "tile_mpp": 0.5, "tile_px": 256,
                          "tissue_fraction": 0.9, "stain_status": "ok",
                          "col": COORDS[:, 0] // 512, "row": COORDS[:, 1] // 512})
    record = {"extractor_name": "UNI", "store_format": 3}
    path = write_h5(tmp_path / "S9.h5", table, FEATURES, slide_id="S9", provenance=record)
    assert h5_format(path) == "featx-h5" and h5_provenance(path) == record
    slide = read_h5(path)
    assert (slide.slide_id, slide.patient_id, slide.verbatim) == ("S9", "P1", record)
    np.testing.assert_array_equal(slide.features, FEATURES)
    pd.testing.assert_frame_equal(slide.coords[list(table.columns.drop("patient_id"))],
                                  table.drop(columns="patient_id"), check_dtype=False)
    # As MIL tools read it: level-0 corners and TRIDENT's patch attributes.
    import h5py

    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["coords"][()], COORDS)
        assert dict(handle["coords"].attrs) == {"patch_size": 256, "patch_level": 0,
                                                "patch_size_level0": 512}


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    path = write_trident(tmp_path / "a.h5", FEATURES, COORDS)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'featx\[import\]'"):
        read_h5(path)
