"""Every command of ``featx --help`` against every class of bad input: one clean line or a right answer.

The table :data:`CASES` holds one row per (command, kind of bad input): the arguments,
and what must happen, one of

- ``refused``: a non-zero exit and exactly one line on stderr (progress bars and
  ``warning:`` lines aside) holding the given words;
- ``reported``: a non-zero exit, each bad item named on a line of its own (commands that
  go on past a bad item: fetch, import, status);
- ``correct``: exit 0 and a check of the output (a bad-looking input that is fine, such as
  unicode and spaces in names, or a glass slide that has no tiles).

Every case also asserts that no traceback and no "This is a featx bug" line appears.
:data:`KINDS` are the classes of bad input; ``test_the_table_covers_every_command`` checks
that every command is in the table and every kind is used. The table keeps growing: every
bug found later adds a row. ``main()`` runs in this process with ``sys.argv`` set, as the
``featx`` script runs it, so the suite costs seconds, not a process per case.

(Over 450 lines because the table is one list with a row per case; split across modules it
would no longer be one table to read and to grow.)
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featx.cli import main
from tests.cli._bad_inputs import UNICODE, build

#: The classes of bad input the issue names, a field of tissue with no glass, usage errors.
KINDS = ("missing", "empty", "wrong format", "wrong columns", "nan/inf", "duplicates",
         "unicode and spaces", "zero", "negative", "huge", "tiny", "traversal",
         "output is a file", "no glass", "usage")


@dataclass(frozen=True)
class Run:
    """What one command did: its exit code, stdout, stderr, and its output folder."""

    code: int
    out: str
    err: str
    folder: Path


@dataclass(frozen=True)
class Case:
    """One row: ``featx ARGS`` (``{r}``: the inputs' folder, ``{o}``: a fresh output folder)."""

    command: str
    kind: str
    args: tuple[str, ...]
    expect: str  # "refused", "reported" or "correct"
    words: tuple[str, ...] = ()
    check: Callable[[Run], None] | None = None

    @property
    def id(self) -> str:
        detail = re.sub(r"[^A-Za-z0-9.=-]+", "_", " ".join(self.args[1:]).replace("{r}/", ""))
        return f"{self.command}|{self.kind}|{detail}"


def refused(kind: str, *args: str, says: tuple[str, ...] = ()) -> Case:
    return Case(args[0], kind, args, "refused", says)


def reported(kind: str, *args: str, says: tuple[str, ...] = ()) -> Case:
    return Case(args[0], kind, args, "reported", says)


def correct(kind: str, *args: str, check: Callable[[Run], None]) -> Case:
    return Case(args[0], kind, args, "correct", check=check)


# --------------------------------------------------------------------------- checks of right answers

def _tiles_written(n: int | None = None, *, at_least: int = 1) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        tables = list(run.folder.glob("*.tiles.parquet"))
        assert len(tables) == 1, run.out
        rows = len(pd.read_parquet(tables[0]))
        assert rows == n if n is not None else rows >= at_least, (rows, run.out)
    return check


def _status(*expected: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        table = pd.read_csv(run.folder / "extractor=COLORSTATS" / "_status.csv")
        assert table["status"].tolist() == list(expected), table
    return check


def _scores_of(n_rows: int) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        scores = pd.read_parquet(run.folder / "tissue_scores.parquet")
        assert scores["n_test"].max() > 0 and f"{n_rows} rows used" in run.out
        # The 'a' class is 3 sd away from the others: accuracy must be well above chance.
        whole = scores[(scores["fold"] == -1) & (scores["metric"] == "accuracy")]
        assert whole["value"].mean() > 0.5, whole
    return check


def _says(*words: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        for word in words:
            assert word in run.out + run.err, (word, run.out, run.err)
    return check


def _files(pattern: str, n: int) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert len(list(run.folder.glob(pattern))) == n, list(run.folder.rglob("*"))
    return check


def _dense_slide_is_all_tissue(run: Run) -> None:
    table = pd.read_parquet(next(run.folder.glob("*.tiles.parquet")))
    assert len(table) == (1024 // 224) * (768 // 224) and table["tissue_fraction"].min() > 0.9


def _import_done(run: Run) -> None:
    status = pd.read_csv(run.folder / "extractor=X" / "_status.csv")
    assert status["status"].tolist() == ["done"] and status["n_tiles"].tolist() == [12]


def _top_k_scores(*expected: float) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        scores = pd.read_csv(run.folder / "slide_scores.csv")
        np.testing.assert_allclose(scores["topk_score"], expected, rtol=1e-6)
    return check


# --------------------------------------------------------------------------- the table

Q = ("--no-progress",)  # commands with progress bars run without them
EXTRACT = ("--extractor", "COLORSTATS", "--workers", "0", "--preprocess", "cpu", *Q)
PLAN = ("--no-measure", "--extractor", "COLORSTATS")

CASES: list[Case] = [
    # info
    refused("missing", "info", "{r}/gone.svs", says=("no such file",)),
    refused("empty", "info", "{r}/empty.svs", says=("empty.svs",)),
    refused("wrong format", "info", "{r}/notes.txt", says=("not a slide format",)),
    refused("wrong format", "info", "{r}/truncated.svs", says=("truncated.svs",)),
    correct("missing", "info", "{r}/nompp.tiff", "--json",
            check=_says('"slide_mpp": "unknown"', "warning:", "--slide-mpp")),
    correct("unicode and spaces", "info", f"{{r}}/{UNICODE}.svs", check=_says("1024")),
    refused("zero", "info", "{r}/S.svs", "--slide-mpp", "0", says=("slide_mpp",)),
    refused("negative", "info", "{r}/S.svs", "--slide-mpp", "-0.5", says=("slide_mpp",)),
    refused("huge", "info", "{r}/S.svs", "--slide-mpp", "1e9", says=("slide_mpp", "[0.05, 50]")),
    refused("tiny", "info", "{r}/S.svs", "--slide-mpp", "1e-9", says=("slide_mpp",)),
    refused("nan/inf", "info", "{r}/S.svs", "--slide-mpp", "nan", says=("slide_mpp",)),
    refused("nan/inf", "info", "{r}/S.svs", "--slide-mpp", "inf", says=("slide_mpp",)),
    refused("usage", "info", says=("Missing argument",)),
    # tile
    refused("missing", "tile", "{r}/gone.svs", "-o", "{o}", says=("gone.svs",)),
    refused("empty", "tile", "{r}/empty.svs", "-o", "{o}", says=("empty.svs",)),
    refused("wrong format", "tile", "{r}/notes.txt", "-o", "{o}", says=("not a slide format",)),
    refused("huge", "tile", "{r}/S.svs", "--tile-px", "1000000000", "-o", "{o}",
            says=("tile_px", "[16, 8192]")),
    refused("huge", "tile", "{r}/S.svs", "--tile-mpp", "1e9", "-o", "{o}", says=("tile_mpp",)),
    refused("huge", "tile", "{r}/S.svs", "--tile-px", "8192", "--tile-mpp", "50", "-o", "{o}",
            says=("5000 microns",)),
    refused("tiny", "tile", "{r}/S.svs", "--tile-mpp", "1e-6", "-o", "{o}", says=("tile_mpp",)),
    refused("tiny", "tile", "{r}/S.svs", "--tile-px", "4", "-o", "{o}", says=("tile_px",)),
    refused("zero", "tile", "{r}/S.svs", "--tile-px", "0", "-o", "{o}", says=("--tile-px",)),
    refused("zero", "tile", "{r}/S.svs", "--tile-mpp", "0", "-o", "{o}", says=("tile_mpp",)),
    refused("negative", "tile", "{r}/S.svs", "--tile-mpp", "-0.5", "-o", "{o}",
            says=("tile_mpp",)),
    refused("negative", "tile", "{r}/S.svs", "--overlap-px", "-1", "-o", "{o}",
            says=("--overlap-px",)),
    refused("huge", "tile", "{r}/S.svs", "--overlap-px", "224", "-o", "{o}", says=("overlap_px",)),
    refused("nan/inf", "tile", "{r}/S.svs", "--tile-mpp", "nan", "-o", "{o}", says=("tile_mpp",)),
    refused("wrong format", "tile", "{r}/S.svs", "--format", "xlsx", "-o", "{o}",
            says=("table_format",)),
    refused("usage", "tile", "{r}/S.svs", "--tissue-method", "magic", "-o", "{o}",
            says=("method",)),
    refused("missing", "tile", "{r}/nompp.tiff", "-o", "{o}", says=("--slide-mpp",)),
    refused("output is a file", "tile", "{r}/S.svs", "-o", "{r}/a_file", says=("cannot create",)),
    correct("unicode and spaces", "tile", f"{{r}}/{UNICODE}.svs", "-o", "{o}",
            check=_tiles_written(at_least=1)),
    correct("empty", "tile", "{r}/glass.svs", "-o", "{o}", check=_tiles_written(0)),
    correct("no glass", "tile", "{r}/dense.svs", "-o", "{o}", check=_dense_slide_is_all_tissue),
    # extract
    refused("missing", "extract", "{r}/gone.csv", "-o", "{o}", *EXTRACT, says=("does not exist",)),
    refused("empty", "extract", "{r}/empty.csv", "-o", "{o}", *EXTRACT, says=("empty.csv",)),
    refused("wrong format", "extract", "{r}/notes.txt", "-o", "{o}", *EXTRACT,
            says=("path",)),
    refused("wrong columns", "extract", "{r}/m_columns.csv", "-o", "{o}", *EXTRACT,
            says=("'path' column",)),
    refused("duplicates", "extract", "{r}/m_twice.csv", "-o", "{o}", *EXTRACT,
            says=("one row per slide",)),
    refused("missing", "extract", "{r}/m_missing.csv", "-o", "{o}", *EXTRACT,
            says=("nothing was extracted", "1 slide files not found", "--slides")),
    refused("missing", "extract", "{r}/m_nompp.csv", "-o", "{o}", *EXTRACT,
            says=("nothing was extracted", "record no microns per pixel", "--slide-mpp")),
    refused("wrong format", "extract", "{r}/m_mpp_text.csv", "-o", "{o}", *EXTRACT,
            says=("slide_mpp of slide 'S'",)),
    refused("negative", "extract", "{r}/m_mpp_negative.csv", "-o", "{o}", *EXTRACT,
            says=("slide_mpp of slide 'S'",)),
    refused("huge", "extract", "{r}/m_mpp_huge.csv", "-o", "{o}", *EXTRACT,
            says=("slide_mpp of slide 'S'",)),
    refused("nan/inf", "extract", "{r}/m_mpp_nan.csv", "-o", "{o}", *EXTRACT,
            says=("slide_mpp of slide 'S'",)),
    refused("wrong format", "extract", "{r}/m_size_text.csv", "-o", "{o}", *EXTRACT,
            says=("size of slide 'S'",)),
    refused("traversal", "extract", "{r}/m_traversal.csv", "-o", "{o}", *EXTRACT,
            says=("slide_id",)),
    refused("huge", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--tile-mpp", "1e9",
            says=("tile_mpp",)),
    refused("huge", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--tile-px",
            "1000000000", says=("tile_px",)),
    refused("zero", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--tile-mpp", "0",
            says=("tile_mpp",)),
    refused("zero", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--batch-size", "0",
            says=("--batch-size",)),
    refused("tiny", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--tile-mpp", "1e-6",
            says=("tile_mpp",)),
    refused("negative", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--slide-mpp", "-1",
            says=("slide_mpp",)),
    refused("wrong format", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--dtype",
            "float64", says=("dtype",)),
    refused("wrong format", "extract", "{r}/m_good.csv", "-o", "{o}", "--extractor", "NOPE",
            says=("NOPE",)),
    refused("output is a file", "extract", "{r}/m_good.csv", "-o", "{r}/a_file", *EXTRACT,
            says=("cannot create",)),
    refused("unicode and spaces", "extract", "{r}/m_unicode.csv", "-o", "{o}", *EXTRACT,
            says=("slide_id of 'slide é ü 組織 1.svs'", "add a slide_id column")),
    correct("unicode and spaces", "extract", "{r}/m_unicode_named.csv", "-o", "{o}", *EXTRACT,
            check=_status("done")),
    correct("empty", "extract", "{r}/m_glass.csv", "-o", "{o}", *EXTRACT,
            check=_status("no_tissue")),
    correct("wrong columns", "extract", "{r}/m_good.csv", "-o", "{r}/bad_status_store_2",
            *EXTRACT, check=_says("set aside and rebuilt", "1 done")),
    correct("wrong format", "extract", "{r}/m_good.csv", "-o", "{r}/bad_lock_store",
            *EXTRACT, check=_says("not a lock featx wrote", "1 done")),
    refused("wrong format", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--precision",
            "half", says=("--precision", "bfloat16")),
    refused("usage", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--precision",
            "bfloat16", says=("Keras extractors", "COLORSTATS")),
    correct("usage", "extract", "{r}/m_good.csv", "-o", "{o}", *EXTRACT, "--precision", "auto",
            check=_says("precision: float32 (auto: COLORSTATS has no other precision)",
                        "1 done")),
    # plan
    refused("missing", "plan", "{r}/gone.csv", *PLAN, says=("gone.csv",)),
    refused("wrong columns", "plan", "{r}/m_columns.csv", *PLAN, says=("path",)),
    refused("huge", "plan", "{r}/m_good.csv", *PLAN, "--tile-px", "100000",
            says=("tile_px",)),
    refused("zero", "plan", "{r}/m_good.csv", *PLAN, "--tile-mpp", "0",
            says=("tile_mpp",)),
    refused("zero", "plan", "{r}/m_good.csv", *PLAN, "--gpus", "0", says=("--gpus",)),
    refused("negative", "plan", "{r}/m_good.csv", *PLAN, "--gpu-rate", "-5",
            says=("gpu",)),
    refused("nan/inf", "plan", "{r}/m_good.csv", *PLAN, "--gpu-rate", "nan",
            says=("gpu",)),
    correct("unicode and spaces", "plan", "{r}/m_unicode_named.csv", *PLAN, "--gpu-rate",
            "100", check=_says("tiles")),
    # embed
    refused("missing", "embed", "{r}/gone", "-o", "{o}", "--extractor", "COLORSTATS", *Q,
            says=("gone",)),
    refused("empty", "embed", "{r}/empty_dir", "-o", "{o}", "--extractor", "COLORSTATS", *Q,
            says=("empty_dir",)),
    refused("wrong format", "embed", "{r}/flat_tiles", "-o", "{o}", "--extractor", "COLORSTATS",
            *Q, says=("flat_tiles",)),
    refused("wrong format", "embed", "{r}/notes.txt", "-o", "{o}", "--extractor", "COLORSTATS",
            *Q, says=("notes.txt",)),
    refused("huge", "embed", "{r}/tiles", "-o", "{o}", "--extractor", "COLORSTATS",
            "--tile-px", "100000", *Q, says=("tile_px",)),
    refused("zero", "embed", "{r}/tiles", "-o", "{o}", "--extractor", "COLORSTATS",
            "--tile-px", "0", *Q, says=("--tile-px",)),
    refused("zero", "embed", "{r}/tiles", "-o", "{o}", "--extractor", "COLORSTATS",
            "--chunk-size", "0", *Q, says=("--chunk-size",)),
    refused("output is a file", "embed", "{r}/tiles", "-o", "{r}/a_file", "--extractor",
            "COLORSTATS", *Q, says=("a_file",)),
    refused("duplicates", "embed", "{r}/tiles", "-o", "{o}", "--extractor-arg",
            "precision=float16", "--precision", "bfloat16", *Q, says=("once",)),
    correct("unicode and spaces", "embed", f"{{r}}/tiles {UNICODE}", "-o", "{o}", "--extractor",
            "COLORSTATS", *Q, check=_says("12 tiles")),
    # evaluate
    refused("missing", "evaluate", "{r}/gone.parquet", "-t", "{r}/t.csv", "-e", "tissue", "-o",
            "{o}", says=("gone.parquet",)),
    refused("empty", "evaluate", "{r}/empty.csv", "-t", "{r}/t.csv", "-e", "tissue", "-o", "{o}",
            says=("empty.csv",)),
    refused("empty", "evaluate", "{r}/emb_header_only.csv", "-t", "{r}/t.csv", "-e", "tissue",
            "-o", "{o}", says=("emb_header_only",)),
    refused("wrong format", "evaluate", "{r}/notes.txt", "-t", "{r}/t.csv", "-e", "tissue", "-o",
            "{o}", says=("notes.txt",)),
    refused("wrong format", "evaluate", "{r}/emb.parquet", "-t", "{r}/p.xlsx", "-e", "tissue",
            "-o", "{o}", says=(".xlsx",)),
    refused("wrong columns", "evaluate", "{r}/emb_columns.csv", "-t", "{r}/t.csv", "-e",
            "tissue", "-o", "{o}", says=("emb_columns",)),
    refused("wrong columns", "evaluate", "{r}/emb.csv", "-t", "{r}/t_columns.csv", "-e",
            "tissue", "-o", "{o}", says=("t_columns",)),
    refused("nan/inf", "evaluate", "{r}/emb_nan.csv", "-t", "{r}/t.csv", "-e", "tissue", "-o",
            "{o}", says=("NaN",)),
    refused("nan/inf", "evaluate", "{r}/emb_inf.csv", "-t", "{r}/t.csv", "-e", "tissue", "-o",
            "{o}", says=("inf",)),
    refused("nan/inf", "evaluate", "{r}/emb.csv", "-t", "{r}/t_nan.csv", "-e", "tissue", "-o",
            "{o}", says=("t_nan.csv", "3 rows have no label")),
    refused("duplicates", "evaluate", "{r}/emb_twice.csv", "-t", "{r}/t.csv", "-e", "tissue",
            "-o", "{o}", says=("P00",)),
    refused("duplicates", "evaluate", "A={r}/emb.csv", "A={r}/emb.tsv", "-t", "{r}/t.csv", "-e",
            "tissue", "-o", "{o}", says=("'A'",)),
    refused("wrong columns", "evaluate", "{r}/emb.csv", "-t", "{r}/t_one_class.csv", "-e",
            "tissue", "-o", "{o}", says=("class",)),
    refused("zero", "evaluate", "{r}/emb.csv", "-t", "{r}/t.csv", "-e", "tissue", "--folds", "0",
            "-o", "{o}", says=("--folds",)),
    refused("huge", "evaluate", "{r}/emb.csv", "-t", "{r}/t.csv", "-e", "tissue", "--folds",
            "1000", "--repeats", "1", "-o", "{o}", says=("fold",)),
    refused("usage", "evaluate", "{r}/emb.csv", "-t", "{r}/t.csv", "-e", "magic", "-o", "{o}",
            says=("--experiment",)),
    refused("output is a file", "evaluate", "{r}/emb.csv", "-t", "{r}/t.csv", "-e", "tissue",
            "-o", "{r}/a_file", says=("cannot create",)),
    correct("wrong format", "evaluate", "{r}/emb.csv", "-t", "{r}/t.csv", "-e", "tissue",
            "--repeats", "2", "--id-mode", "exact", "-o", "{o}", check=_scores_of(30)),
    correct("wrong format", "evaluate", "{r}/emb.tsv", "-t", "{r}/t.csv", "-e", "tissue",
            "--repeats", "2", "--id-mode", "exact", "-o", "{o}", check=_scores_of(30)),
    correct("unicode and spaces", "evaluate", "{r}/emb_unicode.csv", "-t", "{r}/t_unicode.csv",
            "-e", "tissue", "--repeats", "2", "--id-mode", "exact", "-o", "{o}",
            check=_scores_of(30)),
    # export
    refused("missing", "export", "{r}/gone", "-o", "{o}", says=("gone",)),
    refused("empty", "export", "{r}/empty_dir", "-o", "{o}", says=("not a featx store",)),
    refused("wrong format", "export", "{r}/notes.txt", "-o", "{o}", says=("notes.txt",)),
    refused("wrong format", "export", "{r}/damaged_store", "-o", "{o}",
            says=("1 store files are damaged", "COLORSTATS/T", "the other 1 are in")),
    refused("wrong format", "export", "{r}/store", "-o", "{o}", "--format", "xlsx",
            says=("format",)),
    refused("missing", "export", "{r}/store", "-o", "{o}", "--extractor", "NOPE",
            says=("NOPE",)),
    refused("output is a file", "export", "{r}/store", "-o", "{r}/a_file", says=("a_file",)),
    correct("unicode and spaces", "export", "{r}/store", "-o", f"{{o}}/{UNICODE}",
            check=_says("2 slides exported")),
    refused("wrong format", "export", "{r}/damaged_store", "-o", "{o}", "--format", "geojson",
            says=("1 store files are damaged", "COLORSTATS/T")),
    refused("wrong format", "export", "{r}/damaged_store", "-o", "{o}", "--format", "anndata",
            says=("1 store files are damaged",)),
    refused("missing", "export", "{r}/gone", "-o", "{o}", "--format", "anndata",
            says=("store folder",)),
    refused("empty", "export", "{r}/empty_dir", "-o", "{o}", "--format", "geojson",
            says=("not a featx store",)),
    refused("missing", "export", "{r}/store", "-o", "{o}", "--format", "geojson",
            "--slidescores", "{r}/empty_dir", says=("tile_probabilities.parquet",)),
    # extractors
    refused("missing", "extractors", "--store", "{r}/gone", says=("does not exist",)),
    refused("wrong format", "extractors", "--store", "{r}/empty_dir", says=("not a featx store",)),
    refused("wrong format", "extractors", "--store", "{r}/notes.txt", says=("notes.txt",)),
    correct("wrong format", "extractors", "--store", "{r}/damaged_store",
            check=_says("2 slides: 2 done", "1 damaged", "extracted")),
    refused("usage", "extractors", "--bogus", says=("--bogus",)),
    # fetch (every case is refused before any request)
    refused("missing", "fetch", "{r}/gone.tsv", "-d", "{o}", says=("not found",)),
    refused("empty", "fetch", "{r}/empty.tsv", "-d", "{o}", says=("empty.tsv",)),
    refused("wrong format", "fetch", "{r}/notes.txt", "-d", "{o}", says=("notes.txt",)),
    refused("wrong columns", "fetch", "{r}/f_columns.tsv", "-d", "{o}", says=("'filename'",)),
    reported("traversal", "fetch", "{r}/f_traversal.tsv", "-d", "{o}", "--retries", "0",
             says=("stays inside the destination folder",)),
    reported("traversal", "fetch", "{r}/f_absolute.tsv", "-d", "{o}", "--retries", "0",
             says=("stays inside the destination folder",)),
    reported("traversal", "fetch", "{r}/f_dest.tsv", "-d", "{o}", "--retries", "0",
             says=("stays inside the destination folder",)),
    refused("huge", "fetch", "{r}/f_huge.tsv", "-d", "{o}", says=("GiB to download",)),
    refused("negative", "fetch", "{r}/f_negative.tsv", "-d", "{o}", says=("size column",)),
    refused("wrong format", "fetch", "{r}/f_size_text.tsv", "-d", "{o}", says=("size column",)),
    refused("missing", "fetch", "openslide_testdata", "--only", "nope.zip", "-d", "{o}",
            says=("nope.zip", "CMU-1-Small-Region.svs")),
    refused("zero", "fetch", "{r}/f_huge.tsv", "-d", "{o}", "--timeout", "0",
            says=("--timeout",)),
    refused("output is a file", "fetch", "{r}/f_plain.tsv", "-d", "{r}/a_file",
            says=("cannot create", "--dest")),
    correct("unicode and spaces", "fetch", "{r}/f_unicode.tsv", "-d", "{o}", "--local-dir",
            "{r}/local", "--no-progress", check=_says("local", f"{UNICODE}.bin")),
    # gdc (nothing listens on port 9: the first request fails)
    refused("usage", "gdc", "magic", "-o", "{o}/m.tsv", says=("kind",)),
    refused("zero", "gdc", "rnaseq", "--page-size", "0", "-o", "{o}/m.tsv",
            says=("--page-size",)),
    refused("wrong format", "gdc", "rnaseq", "--api", "not a url", "--retries", "0", "-o",
            "{o}/m.tsv", says=("--api must be an http(s) URL",)),
    refused("missing", "gdc", "rnaseq", "--api", "http://127.0.0.1:9", "--retries", "0", "-o",
            "{o}/m.tsv", says=("GDC query failed",)),
    refused("output is a file", "gdc", "rnaseq", "--api", "http://127.0.0.1:9", "-o",
            "{r}/a_file/m.tsv", says=("cannot create",)),
    refused("wrong format", "gdc", "rnaseq", "--api", "http://127.0.0.1:9", "-o", "{o}/m.xlsx",
            says=(".xlsx",)),
    # import
    refused("missing", "import", "{r}/gone.h5", "-o", "{o}", "-x", "X", says=("gone.h5",)),
    refused("empty", "import", "{r}/empty_dir", "-o", "{o}", "-x", "X", says=("empty_dir",)),
    refused("wrong format", "import", "{r}/notes.txt", "-o", "{o}", "-x", "X",
            says=("notes.txt",)),
    reported("empty", "import", "{r}/empty.h5", "-o", "{o}", "-x", "X", says=("empty.h5",)),
    reported("wrong format", "import", "{r}/not.h5", "-o", "{o}", "-x", "X",
             says=("cannot be opened as HDF5",)),
    reported("duplicates", "import", "{r}/twice.h5", "-o", "{o}", "-x", "X",
             says=("repeat the coordinates",)),
    reported("huge", "import", "{r}/far.h5", "-o", "{o}", "-x", "X",
             says=("not level-0 pixels",)),
    reported("nan/inf", "import", "{r}/nan.h5", "-o", "{o}", "-x", "X", says=("NaN",)),
    reported("wrong format", "import", "{r}/heap.pt", "-o", "{o}", "-x", "X",
             says=("negative offset, size or stride",)),
    reported("wrong format", "import", "{r}/ctor.pt", "-o", "{o}", "-x", "X",
             says=("not a tensor saved by torch.save",)),
    reported("huge", "import", "{r}/bomb.pt", "-o", "{o}", "-x", "X",
             says=("a decompression bomb",)),
    refused("zero", "import", "{r}/h5", "-o", "{o}", "-x", "X", "--slide-mpp", "0",
            says=("slide_mpp",)),
    refused("huge", "import", "{r}/h5", "-o", "{o}", "-x", "X", "--slide-mpp", "1e9",
            says=("slide_mpp",)),
    refused("zero", "import", "{r}/h5", "-o", "{o}", "-x", "X", "--coords-downsample", "0",
            says=("coords_downsample",)),
    refused("traversal", "import", "{r}/h5", "-o", "{o}", "-x", "../../X", says=("extractor",)),
    refused("output is a file", "import", "{r}/h5", "-o", "{r}/a_file", "-x", "X",
            says=("a_file",)),
    reported("unicode and spaces", "import", f"{{r}}/{UNICODE}.h5", "-o", "{o}", "-x", "X",
             says=("slide_id must be a non-empty name of letters",)),
    correct("unicode and spaces", "import", f"{{r}}/dir {UNICODE}", "-o", f"{{o}}/{UNICODE}",
            "-x", "X", check=_says("1 slides imported")),
    correct("empty", "import", "{r}/no_tiles.h5", "-o", "{o}", "-x", "X",
            check=_says("no tiles", "no_tissue")),
    correct("wrong format", "import", "{r}/h5", "-o", "{o}", "-x", "X", check=_import_done),
    # finetune (refused before TensorFlow loads)
    refused("missing", "finetune", "{r}/gone", "{o}", says=("tile folder",)),
    refused("empty", "finetune", "{r}/empty_dir", "{o}", says=("empty_dir",)),
    refused("wrong format", "finetune", "{r}/notes.txt", "{o}", says=("notes.txt",)),
    refused("zero", "finetune", "{r}/tiles", "{o}", "--batch-size", "0", says=("batch",)),
    refused("negative", "finetune", "{r}/tiles", "{o}", "--epochs-step1", "-1", says=("epochs",)),
    refused("huge", "finetune", "{r}/tiles", "{o}", "--input-px", "100000",
            says=("input_px", "[16, 8192]")),
    refused("huge", "finetune", "{r}/tiles", "{o}", "--val-fraction", "1.5", says=("val",)),
    refused("nan/inf", "finetune", "{r}/tiles", "{o}", "--lr-step1", "nan", says=("lr",)),
    refused("output is a file", "finetune", "{r}/tiles", "{r}/a_file", says=("a_file",)),
    # normalize
    refused("missing", "normalize", "{r}/tiles", "-t", "{r}/gone.png", "-o", "{o}",
            says=("not found",)),
    refused("wrong format", "normalize", "{r}/tiles", "-t", "{r}/notes.txt", "-o", "{o}",
            says=("cannot be read as an image",)),
    refused("missing", "normalize", "{r}/gone", "-t", "{r}/target.png", "-o", "{o}",
            says=("gone",)),
    refused("empty", "normalize", "{r}/empty_dir", "-t", "{r}/target.png", "-o", "{o}",
            says=("empty_dir",)),
    refused("huge", "normalize", "{r}/S.svs", "-t", "{r}/target.png", "-o", "{o}", "--tile-px",
            "100000", says=("tile_px",)),
    refused("usage", "normalize", "{r}/tiles", "-t", "{r}/target.png", "-o", "{o}", "--mode",
            "magic", says=("mode",)),
    refused("output is a file", "normalize", "{r}/tiles", "-t", "{r}/target.png", "-o",
            "{r}/a_file", says=("cannot create",)),
    correct("unicode and spaces", "normalize", f"{{r}}/tiles {UNICODE}", "-t", "{r}/target.png",
            "-o", "{o}", check=_says("12 tiles normalised")),
    # pool
    refused("missing", "pool", "{r}/gone", "--extractor", "X", "-o", "{o}/p.csv",
            says=("does not exist",)),
    refused("empty", "pool", "{r}/empty_dir", "--extractor", "X", "-o", "{o}/p.csv",
            says=("empty_dir",)),
    refused("missing", "pool", "{r}/store", "--extractor", "NOPE", "-o", "{o}/p.csv",
            says=("NOPE",)),
    refused("wrong format", "pool", "{r}/store", "--extractor", "COLORSTATS", "-o",
            "{o}/p.xlsx", says=(".xlsx", "p.parquet")),
    refused("usage", "pool", "{r}/store", "--extractor", "COLORSTATS", "--level", "tile", "-o",
            "{o}/p.csv", says=("level",)),
    refused("output is a file", "pool", "{r}/store", "--extractor", "COLORSTATS", "-o",
            "{r}/a_file/p.csv", says=("cannot create",)),
    refused("traversal", "pool", "{r}/store", "--extractor", "../store", "-o", "{o}/p.csv",
            says=("extractor",)),
    reported("wrong format", "pool", "{r}/damaged_store", "--extractor", "COLORSTATS", *Q, "-o",
             "{o}/p.csv", says=("skipped", "T.parquet", "1 patients")),
    correct("unicode and spaces", "pool", "{r}/store", "--extractor", "COLORSTATS", *Q, "-o",
            f"{{o}}/{UNICODE}.csv", check=_files("*.csv", 1)),
    # report
    refused("traversal", "report", "../../etc/x", "--results", "{r}", "-o", "{o}",
            says=("plain folder name",)),
    refused("missing", "report", "r", "--results", "{r}/gone", "-o", "{o}", says=("not found",)),
    refused("empty", "report", "r", "--results", "{r}/empty_dir", "-o", "{o}",
            says=("empty_dir",)),
    refused("output is a file", "report", "r", "--results", "{r}", "-o", "{r}/a_file",
            says=("cannot create",)),
    refused("usage", "report", "r", "-o", "{o}", says=("--results",)),
    # reproduce
    refused("usage", "reproduce", "magic", "-o", "{o}", says=("experiment",)),
    refused("output is a file", "reproduce", "crc-tissue", "--small", "-o", "{r}/a_file",
            says=("cannot create",)),
    refused("zero", "reproduce", "crc-tissue", "--repeats", "0", "-o", "{o}",
            says=("--repeats",)),
    refused("huge", "reproduce", "luad-mutation", "--tile-mpp", "1e9", "--dry-run", "-o", "{o}",
            says=("tile_mpp",)),
    refused("zero", "reproduce", "luad-mutation", "--tile-mpp", "0", "--dry-run", "-o", "{o}",
            says=("tile_mpp",)),
    refused("missing", "reproduce", "luad-mutation", "--slides-manifest", "{r}/gone.tsv",
            "--dry-run", "-o", "{o}", says=("gone.tsv",)),
    # slidescore
    refused("missing", "slidescore", "{r}/gone.csv", "-o", "{o}", says=("gone.csv",)),
    refused("empty", "slidescore", "{r}/empty.csv", "-o", "{o}", says=("empty.csv",)),
    refused("wrong format", "slidescore", "{r}/notes.txt", "-o", "{o}", says=("slide_id",)),
    refused("wrong columns", "slidescore", "{r}/probs_columns.csv", "-o", "{o}",
            says=("prob",)),
    refused("nan/inf", "slidescore", "{r}/probs_nan.csv", "-o", "{o}", says=("NaN",)),
    refused("huge", "slidescore", "{r}/probs_above_one.csv", "-o", "{o}", says=("[0, 1]",)),
    refused("huge", "slidescore", "{r}/probs_far.csv", "-o", "{o}", says=("row",)),
    refused("negative", "slidescore", "{r}/probs_negative.csv", "-o", "{o}", says=("row",)),
    refused("duplicates", "slidescore", "{r}/probs_twice.csv", "-o", "{o}",
            says=("2 duplicate (row, col) cells",)),
    refused("zero", "slidescore", "{r}/probs.csv", "--k", "0", "-o", "{o}", says=("--k",)),
    refused("wrong columns", "slidescore", "{r}/probs.csv", "--labels", "{r}/t.csv", "-o",
            "{o}", says=("slide_id and label",)),
    refused("output is a file", "slidescore", "{r}/probs.csv", "-o", "{r}/a_file",
            says=("cannot create",)),
    correct("unicode and spaces", "slidescore", "{r}/probs_unicode.csv", "--k", "2", "-o",
            "{o}", check=_top_k_scores(0.1, 0.3, 0.5, 0.7)),
    # status
    refused("missing", "status", "{r}/gone", says=("does not exist",)),
    refused("empty", "status", "{r}/empty_dir", says=("no extractor=NAME",)),
    refused("wrong format", "status", "{r}/notes.txt", says=("notes.txt",)),
    refused("wrong columns", "status", "{r}/bad_status_store", says=("not a status table",)),
    reported("wrong format", "status", "{r}/damaged_store",
             says=("damaged  T: not a readable Parquet file",)),
    correct("empty", "status", "{r}/store", check=_says("2 done")),
    # targets
    refused("missing", "targets", "mutations", "{r}/gone.maf", "-o", "{o}/m.tsv",
            says=("gone.maf",)),
    refused("empty", "targets", "mutations", "{r}/empty.tsv", "-o", "{o}/m.tsv",
            says=("empty.tsv",)),
    refused("wrong columns", "targets", "mutations", "{r}/columns.maf", "-o", "{o}/m.tsv",
            says=("Hugo_Symbol",)),
    refused("zero", "targets", "mutations", "{r}/good.maf", "--top", "0", "-o", "{o}/m.tsv",
            says=("--top",)),
    refused("wrong format", "targets", "mutations", "{r}/good.maf", "-o", "{o}/m.xlsx",
            says=(".xlsx",)),
    refused("output is a file", "targets", "mutations", "{r}/good.maf", "-o",
            "{r}/a_file/m.tsv", says=("a_file",)),
    correct("unicode and spaces", "targets", "mutations", "{r}/good.maf", "-o",
            f"{{o}}/{UNICODE}.tsv", check=_files("*.tsv", 1)),
    refused("missing", "targets", "expression", "{r}/gone.txt", "-o", "{o}/e.tsv",
            says=("gone.txt",)),
    refused("wrong format", "targets", "expression", "{r}/notes.txt", "-o", "{o}/e.tsv",
            says=("notes.txt",)),
    refused("nan/inf", "targets", "expression", "{r}/expression.txt", "-o", "{o}/e.tsv",
            says=("missing or non-numeric values",)),
    # view (each is refused before it serves)
    refused("missing", "view", "{r}/gone.svs", says=("gone.svs",)),
    refused("empty", "view", "{r}/empty_dir", says=("empty_dir",)),
    refused("wrong format", "view", "{r}/notes.txt", says=("not a slide format",)),
    refused("wrong format", "view", "{r}/truncated.svs", says=("truncated.svs",)),
    refused("missing", "view", "{r}/nompp.tiff", says=("--slide-mpp",)),
    refused("zero", "view", "{r}/S.svs", "--slide-mpp", "0", says=("--slide-mpp",)),
    refused("huge", "view", "{r}/S.svs", "--slide-mpp", "1e9", says=("--slide-mpp",)),
    refused("negative", "view", "{r}/S.svs", "--port", "-1", says=("--port",)),
    refused("zero", "view", "{r}/S.svs", "--n-clusters", "0", says=("--n-clusters",)),
    refused("missing", "view", "{r}/S.svs", "--store", "{r}/gone", says=("--store",)),
    refused("wrong format", "view", "{r}/S.svs", "--store", "{r}/damaged_store",
            says=("1 store files are damaged",)),
    refused("wrong format", "view", "{r}/S.svs", "--store", "{r}/empty_dir",
            says=("not a featx store",)),
    # convert (refused before torch is needed)
    refused("usage", "convert", "MAGIC", "-o", "{o}/x.onnx", "--tiles", "{r}/flat_tiles",
            "--random-weights", says=("MAGIC",)),
    refused("missing", "convert", "UNI", "-o", "{o}/x.onnx", "--tiles", "{r}/gone",
            "--random-weights", says=("--tiles",)),
    refused("zero", "convert", "UNI", "-o", "{o}/x.onnx", "--tiles", "{r}/flat_tiles",
            "--max-tiles", "0", says=("--max-tiles",)),
    refused("huge", "convert", "UNI", "-o", "{o}/x.onnx", "--tiles", "{r}/flat_tiles",
            "--min-cosine", "2", says=("--min-cosine",)),
    refused("output is a file", "convert", "UNI", "-o", "{r}/a_file/x.onnx", "--tiles",
            "{r}/flat_tiles", "--random-weights", says=("cannot create",)),
    refused("missing", "convert", "UNI", "-o", "{o}/x.onnx", "--tiles", "{r}/flat_tiles",
            "--checkpoint", "{r}/gone.bin", says=("gone.bin",)),
    # doctor, demo
    refused("usage", "doctor", "--bogus", says=("--bogus",)),
    refused("output is a file", "demo", "-o", "{r}/a_file/out", says=("cannot create",)),
    refused("usage", "demo", "--quick", "--bogus", says=("--bogus",)),
]


# --------------------------------------------------------------------------- the runner

_PROGRESS = re.compile(r"\d+%\||it/s\]|s/it\]|\d+/\d+ \[")


def _problem_lines(err: str) -> list[str]:
    """stderr lines that are not progress bars or warnings."""
    lines = [line for line in re.split(r"[\r\n]+", err) if line.strip()]
    return [line for line in lines if not _PROGRESS.search(line)
            and not line.startswith("warning:") and "Warning: " not in line
            and not line.startswith("  ")]


def _to_stderr(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_case(case: Case, inputs: Path, folder: Path, monkeypatch, capfd) -> Run:
    args = [a.replace("{r}", str(inputs)).replace("{o}", str(folder)) for a in case.args]
    monkeypatch.setattr(sys, "argv", ["featx", *args])
    monkeypatch.chdir(folder.parent)
    code = 0
    with warnings.catch_warnings():  # as the terminal shows them, not as pytest records them
        warnings.simplefilter("default")
        warnings.showwarning = _to_stderr
        try:
            main()
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
    out, err = capfd.readouterr()
    return Run(code, out, err, folder)


def verdict(case: Case, run: Run) -> str:
    """``clean``/``correct`` when the case behaves, else why not (asserted to be one of those)."""
    text = run.out + run.err
    if "Traceback" in text or "featx bug" in text:
        return f"featx bug: {text[-600:]}"
    if case.expect == "correct":
        if run.code != 0:
            return f"exit {run.code} instead of a result: {text[-600:]}"
        case.check(run)
        return "correct"
    if run.code == 0:
        return f"silent: exit 0 for a bad input: {text[-600:]}"
    if case.expect == "refused":
        lines = _problem_lines(run.err)
        if len(lines) != 1:
            return f"{len(lines)} lines instead of one: {lines}"
        where = lines[0]
    else:
        where = text
    missing = [w for w in case.words if w not in where]
    return f"the line lacks {missing}: {where[-600:]}" if missing else "clean"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("bad_inputs"))


_TALLY: dict[str, int] = {}


@pytest.mark.timeout(300)  # a command that should refuse but serves (view) fails, not hangs
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, inputs, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FEATX_DATA_DIR", str(tmp_path / "no_data"))  # no real data relied on
    run = run_case(case, inputs, tmp_path / "out", monkeypatch, capfd)
    outcome = verdict(case, run)
    _TALLY[outcome if outcome in ("clean", "correct") else "wrong"] = (
        _TALLY.get(outcome if outcome in ("clean", "correct") else "wrong", 0) + 1)
    assert outcome == ("correct" if case.expect == "correct" else "clean"), outcome


def test_the_table_covers_every_command_and_every_kind():
    from featx.cli._app import app

    commands = ({c.name or c.callback.__name__ for c in app.registered_commands}
                | {g.name for g in app.registered_groups})
    assert commands - {c.command for c in CASES} == set()
    assert set(KINDS) == {c.kind for c in CASES}
    assert len({c.id for c in CASES}) == len(CASES), "two rows with the same id"


def test_tally(capsys):
    """Prints the suite's counts (cases, clean, correct, wrong) when it ran whole."""
    if sum(_TALLY.values()) == len(CASES):
        line = (f"bad-input suite: {len(CASES)} cases, {_TALLY.get('clean', 0)} clean, "
                f"{_TALLY.get('correct', 0)} correct, {_TALLY.get('wrong', 0)} wrong")
        with capsys.disabled():
            print(f"\n{line}")
        assert _TALLY.get("wrong", 0) == 0, line


# --------------------------------------------------------------------------- beyond the table


def test_unexpected_errors_are_one_line(monkeypatch, capfd):
    import featx.cli as cli

    def broken(**_: object) -> None:
        raise TypeError("something featx did not foresee")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["featx", "info", "x"])
    with pytest.raises(SystemExit):
        main()
    _, err = capfd.readouterr()
    assert "TypeError" in err and "FEATX_DEBUG" in err and "featx bug" in err
    assert len(err.strip().splitlines()) == 1

    def denied(**_: object) -> None:
        raise PermissionError(13, "Permission denied", "/root/secret")

    monkeypatch.setattr(cli, "app", denied)
    with pytest.raises(SystemExit):
        main()
    _, err = capfd.readouterr()
    assert "/root/secret" in err and "Permission denied" in err


def test_silent_wrong_outcomes_become_warnings(monkeypatch, capfd, tmp_path):
    """--k above every slide's tile count, and --store without --slides, are said out loud."""
    tiles = pd.DataFrame([{"slide_id": f"S{s}", "row": r, "col": c, "prob": 0.1 * s}
                          for s in range(2) for r in range(3) for c in range(3)])
    tiles.to_parquet(tmp_path / "probs.parquet")
    monkeypatch.setattr(sys, "argv", ["featx", "slidescore", str(tmp_path / "probs.parquet"),
                                      "-o", str(tmp_path / "scores"), "--k", "50"])
    main()
    _, err = capfd.readouterr()
    assert "warning: --k 50" in err and "9 tiles" in err and "mean of all their tiles" in err
    monkeypatch.setattr(sys, "argv", ["featx", "report", "r", "--slidescores",
                                      str(tmp_path / "nowhere"), "--store", str(tmp_path),
                                      "-o", str(tmp_path / "reports")])
    with pytest.raises(SystemExit) as done:
        main()
    _, err = capfd.readouterr()
    assert "warning: --store is used only with --slides" in err and done.value.code != 0


def test_extract_without_model_path_is_one_line(monkeypatch, capfd, inputs, tmp_path):
    case = refused("missing", "extract", "{r}/m_good.csv", "-o", "{o}", "--extractor",
                   "FTX-2048", "--workers", "0", says=("model_path",))
    assert verdict(case, run_case(case, inputs, tmp_path / "o", monkeypatch, capfd)) == "clean"


def test_the_inputs_hold_what_the_table_says(inputs):
    assert (inputs / f"{UNICODE}.svs").is_file()
    assert np.isinf(pd.read_csv(inputs / "emb_inf.csv")["f3"]).sum() == 1
    assert os.path.getsize(inputs / "empty.csv") == 0
