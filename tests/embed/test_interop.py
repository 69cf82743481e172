"""featx.embed.interop: other tools' embeddings into the store, resumably, and back out bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featx._io import file_sha256
from featx.embed.interop import export_embeddings, import_embeddings
from featx.embed.store import provenance, read_slide, slide_path, write_slide_embeddings
from tests.embed.formats._foreign_files import grid, write_clam, write_slideflow, write_trident

RNG = np.random.default_rng(3)
FEATURES = RNG.normal(size=(12, 8)).astype(np.float32)
COORDS = grid()


def _sources(tmp_path):
    write_trident((tmp_path / "trident").mkdir() or tmp_path / "trident" / "S1.h5", FEATURES,
                  COORDS)
    write_clam((tmp_path / "clam").mkdir() or tmp_path / "clam" / "S1.h5", FEATURES, COORDS)
    write_slideflow(tmp_path / "sf", "S1", FEATURES, COORDS)
    return tmp_path


def test_each_tool_imports_to_the_same_store_rows_with_its_source_in_the_provenance(tmp_path):
    src, store = _sources(tmp_path), tmp_path / "store"
    for name, folder in (("UNI", "trident"), ("CLAMR50", "clam"), ("SFX", "sf")):
        status = import_embeddings([src / folder], store, extractor=name, slide_mpp=0.25)
        assert status["status"].tolist() == ["done"], status["error"].tolist()
    frames = {n: read_slide(store, "S1", extractor=n) for n in ("UNI", "CLAMR50", "SFX")}
    for frame in frames.values():
        np.testing.assert_array_equal(np.stack(frame["embedding"]), FEATURES)
        np.testing.assert_array_equal(frame[["x", "y"]].to_numpy(), COORDS)
        np.testing.assert_allclose(frame["tile_mpp"], 0.5)
        assert set(frame["stain_status"]) == {"external"}
    record = provenance(slide_path(store, extractor="UNI", slide_id="S1"))
    assert record["extractor"] == {"name": "UNI", "imported": True, "source_format": "trident",
                                   "n_features": 8}
    assert record["import"]["source_sha256"] == file_sha256(src / "trident" / "S1.h5")
    assert record["import"]["source_attributes"]["coords"]["patch_size_level0"] == 512
    assert record["import"]["geometry"]["tile_um"] == pytest.approx(128)
    assert (store / "extractor=UNI" / "_status.csv").is_file()


def test_import_resumes_and_redoes_a_changed_source(tmp_path):
    src, store = _sources(tmp_path), tmp_path / "store"
    import_embeddings([src / "trident"], store, extractor="UNI")
    target = slide_path(store, extractor="UNI", slide_id="S1")
    first = target.stat().st_mtime_ns
    (target.parent / f".{target.name}.host.1.tmp").write_bytes(b"half")  # a killed writer's
    import_embeddings([src / "trident"], store, extractor="UNI")
    assert target.stat().st_mtime_ns == first  # same source, same options: skipped
    write_trident(src / "trident" / "S1.h5", FEATURES * 2, COORDS)
    import_embeddings([src / "trident"], store, extractor="UNI")
    np.testing.assert_array_equal(read_slide(store, "S1", extractor="UNI", as_="numpy"),
                                  FEATURES * 2)
    assert not list(target.parent.glob(".*.tmp"))
    import_embeddings([src / "trident"], store, extractor="UNI", slide_mpp=0.25)  # new options
    assert read_slide(store, "S1", extractor="UNI")["tile_mpp"].iloc[0] == pytest.approx(0.5)


def test_a_bad_file_fails_alone_with_one_line(tmp_path):
    src, store = _sources(tmp_path), tmp_path / "store"
    (src / "trident" / "broken.h5").write_bytes(b"not hdf5")
    status = import_embeddings([src / "trident"], store, extractor="UNI").set_index("slide_id")
    assert status.loc["S1", "status"] == "done"
    assert status.loc["broken", "status"] == "failed"
    assert "cannot be opened as HDF5" in status.loc["broken", "error"]
    assert "\n" not in status.loc["broken", "error"]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_export_then_import_gives_the_store_back_bit_for_bit(tmp_path, dtype):
    store, back = tmp_path / "store", tmp_path / "back"
    coords = pd.DataFrame({"x": COORDS[:, 0], "y": COORDS[:, 1], "level": 0, "read_px": 448,
                           "tile_mpp": 0.5, "tile_px": 224, "tissue_fraction": RNG.uniform(size=12),
                           "col": COORDS[:, 0] // 448, "row": COORDS[:, 1] // 448,
                           "stain_status": ["normalized"] * 11 + ["fallback"]})
    for slide in ("TCGA-AA-0001-01Z-00-DX1", "TCGA-AA-0002-01Z-00-DX1"):
        write_slide_embeddings(store, coords, FEATURES, extractor="FTX-2048", slide_id=slide,
                               dtype=dtype, provenance={"extractor": {"name": "FTX-2048"},
                                                        "stain": {"fit": [1, 2]}})
    files = export_embeddings(store, tmp_path / "h5")
    assert [f.name for f in files] == ["TCGA-AA-0001-01Z-00-DX1.h5", "TCGA-AA-0002-01Z-00-DX1.h5"]
    import h5py

    with h5py.File(files[0], "r") as handle:  # what CLAM/TRIDENT's MIL loaders read
        assert handle["features"].shape == (12, 8) and handle["coords"].shape == (12, 2)
        np.testing.assert_array_equal(handle["coords"][()], COORDS)
        assert handle["coords"].attrs["patch_size_level0"] == 448
    status = import_embeddings([tmp_path / "h5" / "FTX-2048"], back, extractor="FTX-2048")
    assert status["status"].tolist() == ["done", "done"]
    for slide in ("TCGA-AA-0001-01Z-00-DX1", "TCGA-AA-0002-01Z-00-DX1"):
        original = slide_path(store, extractor="FTX-2048", slide_id=slide)
        again = slide_path(back, extractor="FTX-2048", slide_id=slide)
        assert file_sha256(again) == file_sha256(original)
    before = files[0].stat().st_mtime_ns
    export_embeddings(store, tmp_path / "h5")
    assert files[0].stat().st_mtime_ns == before  # the export resumes too


def test_an_export_imported_under_another_name_is_a_new_import(tmp_path):
    store = tmp_path / "store"
    coords = pd.DataFrame({"x": COORDS[:, 0], "y": COORDS[:, 1], "level": 0, "read_px": 512,
                           "tile_mpp": 0.5, "tile_px": 256, "tissue_fraction": 1.0,
                           "col": 0, "row": 0})
    write_slide_embeddings(store, coords, FEATURES, extractor="FTX-2048", slide_id="S1")
    export_embeddings(store, tmp_path / "h5")
    import_embeddings([tmp_path / "h5" / "FTX-2048"], store, extractor="FTX-COPY")
    record = provenance(slide_path(store, extractor="FTX-COPY", slide_id="S1"))
    assert record["extractor_name"] == "FTX-COPY"
    assert record["import"]["format"] == "featx-h5"
    np.testing.assert_array_equal(read_slide(store, "S1", extractor="FTX-COPY", as_="numpy"),
                                  FEATURES)


def test_an_interrupted_import_finishes_on_rerun_without_redoing_slides(tmp_path, monkeypatch):
    import featx.embed.interop as interop

    (tmp_path / "src").mkdir()
    for i in range(3):
        write_trident(tmp_path / "src" / f"S{i}.h5", FEATURES + i, COORDS)
    real, calls = interop.write_slide_embeddings, []

    def dies_on_second(*args, **kwargs):
        calls.append(kwargs["slide_id"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user's ^C (or a kill) mid-run
        return real(*args, **kwargs)

    monkeypatch.setattr(interop, "write_slide_embeddings", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        import_embeddings([tmp_path / "src"], tmp_path / "store", extractor="UNI")
    first = slide_path(tmp_path / "store", extractor="UNI", slide_id="S0")
    assert first.is_file() and not slide_path(tmp_path / "store", extractor="UNI",
                                              slide_id="S1").exists()
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr(interop, "write_slide_embeddings", real)
    status = import_embeddings([tmp_path / "src"], tmp_path / "store", extractor="UNI")
    assert status["status"].tolist() == ["done"] * 3 and first.stat().st_mtime_ns == stamp
    for i in range(3):
        np.testing.assert_array_equal(
            read_slide(tmp_path / "store", f"S{i}", extractor="UNI", as_="numpy"), FEATURES + i)
    assert not list((tmp_path / "store" / "extractor=UNI" / ".locks").glob("*.lock"))


def test_a_slide_without_tiles_is_stored_empty(tmp_path):
    (tmp_path / "clam").mkdir()
    write_clam(tmp_path / "clam" / "EMPTY.h5", np.zeros((0, 8), np.float32),
               np.zeros((0, 2), np.int64), attrs=False)
    status = import_embeddings([tmp_path / "clam"], tmp_path / "store", extractor="R50")
    assert status["status"].tolist() == ["no_tissue"] and status["n_tiles"].tolist() == [0]
    assert read_slide(tmp_path / "store", "EMPTY", extractor="R50", as_="numpy").shape == (0, 8)


def _hostile_sources(folder):
    """A folder of one good TRIDENT file and one damaged file of every kind, beside it."""
    from tests.embed.formats._foreign_files import write_torch_archive

    folder.mkdir()
    write_trident(folder / "GOOD.h5", FEATURES, COORDS)
    write_trident(folder / "HUGE.h5", FEATURES, np.where(COORDS > 2000, 1e30, COORDS))
    write_trident(folder / "TWICE.h5", FEATURES, np.concatenate([COORDS[:6], COORDS[:6]]))
    nan = FEATURES.copy()
    nan[3, 2] = np.nan
    write_trident(folder / "NAN.h5", nan, COORDS)
    import h5py

    with h5py.File(write_trident(folder / "NOSIDE.h5", FEATURES, COORDS), "a") as handle:
        handle["coords"].attrs["patch_size_level0"] = np.nan  # a tile side of NaN pixels
    # A slideflow bag whose tensor walks backwards out of its storage (heap into the store).
    ints = np.arange(96, dtype=np.int64)
    write_torch_archive(folder / "HEAP.pt", ints, kind="LongStorage", offset=95, shape=(12, 8),
                        stride=(-8, -1))
    np.savez(folder / "HEAP.index.npz", COORDS + 256)
    # A bag whose locations file declares 10^12 rows in 200 bytes.
    write_torch_archive(folder / "INDEX.pt", FEATURES.ravel(), shape=(12, 8), stride=(8, 1))
    np.savez(folder / "INDEX.index.npz", COORDS)
    _declare_huge_npy(folder / "INDEX.index.npz")
    return {"HUGE": "coordinates that are not level-0 pixels",
            "TWICE": "6 tiles repeat the coordinates of another",
            "NAN": "1 of 12 tiles have NaN or infinite features",
            "NOSIDE": "a tile side of nan level-0 pixels",
            "HEAP": "negative offset, size or stride",
            "INDEX": "its header declares (1000000000000, 2)"}


def _declare_huge_npy(npz):
    import io
    import zipfile

    member = io.BytesIO()  # a header declaring 10^12 rows, then the 12 rows there are
    np.lib.format.write_array_header_1_0(member, {"descr": "<i8", "fortran_order": False,
                                                  "shape": (10**12, 2)})
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("arr_0.npy", member.getvalue() + COORDS.astype("<i8").tobytes())


def test_damaged_and_hostile_files_fail_alone_with_the_reason(tmp_path):
    expected = _hostile_sources(tmp_path / "in")
    status = import_embeddings([tmp_path / "in"], tmp_path / "store",
                               extractor="UNI").set_index("slide_id")
    assert status.loc["GOOD", "status"] == "done"
    for name, needle in expected.items():
        assert status.loc[name, "status"] == "failed", name
        assert needle in status.loc[name, "error"], (name, status.loc[name, "error"])
    assert sorted(p.stem for p in (tmp_path / "store" / "extractor=UNI").glob("*.parquet")) == [
        "GOOD"]


def test_a_bag_without_locations_is_not_read(tmp_path, monkeypatch):
    from featx.embed.formats import slideflow
    from featx.errors import DataNotFoundError
    from tests.embed.formats._foreign_files import write_torch_tensor

    def never(path):
        raise AssertionError("the tensor was read before its locations were looked for")

    monkeypatch.setattr(slideflow, "read_torch_tensor", never)
    with pytest.raises(DataNotFoundError, match="S1.index.npz"):
        slideflow.read_slideflow_bag(write_torch_tensor(tmp_path / "S1.pt", FEATURES))
