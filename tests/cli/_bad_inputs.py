"""The files the bad-input suite feeds every command: good ones, and one of each kind of bad.

Built once per test session in a temporary folder (:func:`build`), small enough that the
whole suite runs in seconds: synthetic slides of 1024 x 768 px, a COLORSTATS store of two
of them, tables of 30 patients, tiles cut from a synthetic slide, and hostile feature files
(traversing names, huge declared sizes, coordinates of 1e30, tensors outside their
storage).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from featx.wsi.synthetic import Region, write_synthetic_slide
from tests.embed.formats._foreign_files import (
    grid,
    write_clam,
    write_torch_archive,
    write_trident,
)

#: A name with accents, a space and a non-Latin script: every command must take it.
UNICODE = "slide é ü 組織 1"


def build(root: Path) -> Path:
    """Write every input under ``root``; return it."""
    _slides(root)
    _tiles(root)
    _store(root)
    _manifests(root)
    _tables(root)
    _feature_files(root)
    _probabilities(root)
    _target_sources(root)
    (root / "notes.txt").write_text("hello\n")
    (root / "a_file").write_text("not a folder")
    (root / "empty_dir").mkdir()
    for name in ("empty.svs", "empty.csv", "empty.tsv", "empty.parquet", "empty.h5"):
        (root / name).write_bytes(b"")
    (root / "p.xlsx").write_text("a,b\n1,2\n")
    return root


def _slides(root: Path) -> None:
    write_synthetic_slide(root / "S.svs", width_px=1024, height_px=768, slide_mpp=0.5)
    write_synthetic_slide(root / "T.svs", width_px=1024, height_px=768, slide_mpp=0.5, seed=1)
    shutil.copyfile(root / "S.svs", root / f"{UNICODE}.svs")
    write_synthetic_slide(root / "glass.svs", width_px=1024, height_px=768, regions=[])
    write_synthetic_slide(root / "dense.svs", width_px=1024, height_px=768, slide_mpp=0.5,
                          regions=[Region(0, 0, 1024, 768, "rect")])  # tissue edge to edge
    write_synthetic_slide(root / "nompp.tiff", width_px=512, height_px=512, fmt="tiff-no-mpp",
                          downsamples=(1,))
    truncated = (root / "S.svs").read_bytes()
    (root / "truncated.svs").write_bytes(truncated[: len(truncated) // 3])


def _tiles(root: Path) -> None:
    from featx.wsi import TileSpec, open_slide
    from featx.wsi.tiling import grid_coords, read_tiles

    with open_slide(root / "S.svs") as slide:
        tiles = read_tiles(slide, grid_coords(slide, TileSpec(tile_px=64, tile_mpp=1.0)).head(12))
    for folder, names in (("tiles", ("ADI", "TUM")), (f"tiles {UNICODE}", ("Gewebe ä", "腫瘍"))):
        for k, name in enumerate(names):
            (root / folder / name).mkdir(parents=True)
            for i in range(6):
                Image.fromarray(tiles[k * 6 + i]).save(root / folder / name / f"t{i}.png")
    Image.fromarray(tiles[0]).save(root / "target.png")
    (root / "flat_tiles").mkdir()  # tiles with no class folders
    Image.fromarray(tiles[0]).save(root / "flat_tiles" / "t.png")


def _store(root: Path) -> None:
    from featx.embed import ClusterSettings, ExtractionSettings, run_batch
    from featx.embed.store import slide_path

    manifest = pd.DataFrame({"path": [str(root / "S.svs"), str(root / "T.svs")],
                             "patient_id": ["P1", "P2"]})
    run_batch(manifest, root / "store", ExtractionSettings("COLORSTATS"),
              cluster=ClusterSettings(workers=0, progress=False))
    shutil.copytree(root / "store", root / "damaged_store")
    half = slide_path(root / "damaged_store", extractor="COLORSTATS", slide_id="T")
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    for copy in ("bad_status_store", "bad_status_store_2"):  # one for status, one for extract
        shutil.copytree(root / "store", root / copy)
        (root / copy / "extractor=COLORSTATS" / "_status.csv").write_text("a,b\n1,2\n")
    shutil.copytree(root / "store", root / "bad_lock_store")
    locks = root / "bad_lock_store" / "extractor=COLORSTATS" / ".locks"
    locks.mkdir(exist_ok=True)
    (locks / "S.lock").write_text('{"host": "elsewhere"}')  # JSON, but not a lock


def _manifests(root: Path) -> None:
    def write(name: str, frame: pd.DataFrame) -> None:
        frame.to_csv(root / name, index=False, sep="\t" if name.endswith(".tsv") else ",")

    good = str(root / "S.svs")
    write("m_good.csv", pd.DataFrame({"path": [good]}))
    write("m_unicode.csv", pd.DataFrame({"path": [str(root / f"{UNICODE}.svs")]}))
    write("m_unicode_named.csv", pd.DataFrame({"path": [str(root / f"{UNICODE}.svs")],
                                               "slide_id": ["S_unicode"]}))
    write("m_missing.csv", pd.DataFrame({"path": [str(root / "gone.svs")]}))
    write("m_columns.csv", pd.DataFrame({"a": [1], "b": [2]}))
    write("m_twice.csv", pd.DataFrame({"path": [good, good]}))
    write("m_nompp.csv", pd.DataFrame({"path": [str(root / "nompp.tiff")]}))
    write("m_glass.csv", pd.DataFrame({"path": [str(root / "glass.svs")]}))
    write("m_traversal.csv", pd.DataFrame({"path": [good], "slide_id": ["../../escaped"]}))
    for name, value in (("text", "abc"), ("negative", "-1"), ("huge", "1e9"), ("nan", "nan")):
        write(f"m_mpp_{name}.csv", pd.DataFrame({"path": [good], "slide_mpp": [value]}))
    write("m_size_text.csv", pd.DataFrame({"path": [good], "size": ["lots"]}))
    # Manifests for `featx fetch` (no server needed: each is refused before any request).
    fetch = {"filename": ["a.bin"], "url": ["http://127.0.0.1:9/a.bin"], "size": [16],
             "md5": [""], "sha256": [""]}
    write("f_traversal.tsv", pd.DataFrame({**fetch, "filename": ["../../escaped.bin"]}))
    write("f_absolute.tsv", pd.DataFrame({**fetch, "filename": [str(root / "abs.bin")]}))
    write("f_dest.tsv", pd.DataFrame({**fetch, "dest": ["../../outside"]}))
    write("f_plain.tsv", pd.DataFrame(fetch))
    write("f_huge.tsv", pd.DataFrame({**fetch, "size": [10**15]}))
    write("f_negative.tsv", pd.DataFrame({**fetch, "size": [-5]}))
    write("f_size_text.tsv", pd.DataFrame({**fetch, "size": ["lots"]}))
    write("f_columns.tsv", pd.DataFrame({"name": ["a.bin"], "link": ["x"]}))
    (root / "local").mkdir()
    (root / "local" / f"{UNICODE}.bin").write_bytes(b"0123456789abcdef")
    write("f_unicode.tsv", pd.DataFrame({**fetch, "filename": [f"{UNICODE}.bin"], "url": [""]}))


def _tables(root: Path) -> None:
    """Patient-level embeddings and targets: 30 patients, 3 classes with a real signal."""
    rng = np.random.default_rng(0)
    ids = [f"P{i:02d}" for i in range(30)]
    labels = np.array(["a", "b", "c"] * 10)
    features = rng.normal(size=(30, 6)) + (labels[:, None] == "a") * 3.0
    emb = pd.DataFrame(features, columns=[f"f{i}" for i in range(6)]).assign(patient_id=ids)
    emb = emb[["patient_id", *emb.columns[:-1]]]
    emb.to_parquet(root / "emb.parquet")
    emb.to_csv(root / "emb.csv", index=False)
    emb.to_csv(root / "emb.tsv", index=False, sep="\t")
    emb.assign(patient_id=[f"{UNICODE} {i}" for i in ids]).to_csv(root / "emb_unicode.csv",
                                                                 index=False)
    emb.assign(f2=np.where(np.arange(30) == 4, np.nan, emb["f2"])).to_csv(root / "emb_nan.csv",
                                                                          index=False)
    emb.assign(f3=np.where(np.arange(30) == 7, np.inf, emb["f3"])).to_csv(root / "emb_inf.csv",
                                                                          index=False)
    emb.assign(patient_id=ids[:29] + ["P00"]).to_csv(root / "emb_twice.csv", index=False)
    pd.DataFrame({"patient_id": ids, "note": ["x"] * 30}).to_csv(root / "emb_columns.csv",
                                                                  index=False)
    emb.head(0).to_csv(root / "emb_header_only.csv", index=False)
    targets = pd.DataFrame({"patient_id": ids, "label": labels})
    targets.to_csv(root / "t.csv", index=False)
    targets.assign(patient_id=[f"{UNICODE} {i}" for i in ids]).to_csv(root / "t_unicode.csv",
                                                                     index=False)
    targets.assign(label=np.where(np.arange(30) < 3, None, labels)).to_csv(root / "t_nan.csv",
                                                                           index=False)
    targets.assign(label="a").to_csv(root / "t_one_class.csv", index=False)
    pd.DataFrame({"who": ids}).to_csv(root / "t_columns.csv", index=False)


def _feature_files(root: Path) -> None:
    features = np.random.default_rng(1).normal(size=(12, 8)).astype(np.float32)
    coords = grid()
    folder = root / "h5"
    folder.mkdir()
    write_trident(folder / "GOOD.h5", features, coords)
    write_trident(root / f"{UNICODE}.h5", features, coords)
    (root / f"dir {UNICODE}").mkdir()
    write_trident(root / f"dir {UNICODE}" / "GOOD.h5", features, coords)
    write_trident(root / "twice.h5", features, np.concatenate([coords[:6], coords[:6]]))
    write_trident(root / "far.h5", features, np.where(coords > 2000, 1e30, coords))
    nan = features.copy()
    nan[2, 3] = np.nan
    write_trident(root / "nan.h5", nan, coords)
    write_clam(root / "no_tiles.h5", features[:0], coords[:0], attrs=False)
    (root / "not.h5").write_bytes(b"not hdf5 at all")
    ints = np.arange(96, dtype=np.int64)
    write_torch_archive(root / "heap.pt", ints, kind="LongStorage", offset=95, shape=(12, 8),
                        stride=(-8, -1))
    np.savez(root / "heap.index.npz", coords + 256)
    write_torch_archive(root / "ctor.pt", features.ravel(), shape=(12, 8), stride=(8, 1),
                        call_storage=True)  # the pickle calls a storage constructor
    write_torch_archive(root / "bomb.pt", features[:0].ravel(), shape=(2048, 2048),
                        stride=(2048, 1), storage_bytes=16 * 2**20, compress=True)
    for name in ("ctor", "bomb"):
        np.savez(root / f"{name}.index.npz", coords + 256)
    (root / "bags_config.json").write_text(json.dumps({"tile_px": 256, "tile_um": 128}))


def _probabilities(root: Path) -> None:
    rows = [{"slide_id": f"S{s}", "row": r, "col": c, "prob": 0.1 + 0.2 * s}
            for s in range(4) for r in range(3) for c in range(3)]
    probs = pd.DataFrame(rows)
    probs.to_csv(root / "probs.csv", index=False)
    probs.assign(slide_id=probs["slide_id"] + f" {UNICODE}").to_csv(root / "probs_unicode.csv",
                                                                   index=False)
    probs.assign(prob=np.where(probs.index == 5, np.nan, probs["prob"])).to_csv(
        root / "probs_nan.csv", index=False)
    probs.assign(prob=np.where(probs.index == 5, 7.5, probs["prob"])).to_csv(
        root / "probs_above_one.csv", index=False)
    probs.assign(row=np.where(probs.index == 5, 10**12, probs["row"])).to_csv(
        root / "probs_far.csv", index=False)
    probs.assign(row=np.where(probs.index == 5, -3, probs["row"])).to_csv(
        root / "probs_negative.csv", index=False)
    pd.concat([probs, probs.head(2)]).to_csv(root / "probs_twice.csv", index=False)
    probs.drop(columns="prob").to_csv(root / "probs_columns.csv", index=False)
    pd.DataFrame({"slide_id": [f"S{s}" for s in range(4)], "label": [0, 0, 1, 1]}).to_csv(
        root / "labels.csv", index=False)


def _target_sources(root: Path) -> None:
    maf = pd.DataFrame({
        "Hugo_Symbol": ["TP53", "KRAS", "TP53"], "Variant_Classification": ["Missense_Mutation"] * 3,
        "Tumor_Sample_Barcode": ["TCGA-AA-0001-01A-11D-A000-08", "TCGA-AA-0002-01A-11D-A000-08",
                                 "TCGA-AA-0003-01A-11D-A000-08"]})
    maf.to_csv(root / "good.maf", sep="\t", index=False)
    maf.drop(columns="Hugo_Symbol").to_csv(root / "columns.maf", sep="\t", index=False)
    matrix = pd.DataFrame({"GeneSymbol": ["CD8A", "CD4"], "EntrezID": [925, 920],
                           "TCGA-AA-0001-01A-11R-A000-07": [5.0, 7.0],
                           "TCGA-AA-0002-01A-11R-A000-07": [2.0, np.nan]})
    matrix.to_csv(root / "expression.txt", sep="\t", index=False)
