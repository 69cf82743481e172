"""What a store holds, counted one way for ``featx status`` and ``featx extractors --store``.

A store is one of two kinds, and each file means something else in each:

* a **slide store** (``featx extract``, ``featx import``): one Parquet file per slide, and
  ``_status.csv`` with every slide of the manifest (done, failed, missing);
* a **tile set** (``featx embed``): chunk files of up to 1,000 labelled tiles, recorded in
  ``_tileset.json``, with ``labels.tsv`` beside. Its files are not slides.

Tiles are counted from the Parquet footers (no embedding is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from featx._io import read_table
from featx.embed.batch import read_status
from featx.embed.store import damaged_files, list_slides, slide_path
from featx.embed.tile_sets import TILESET_FILE

__all__ = ["StoreContents", "store_contents"]


@dataclass(frozen=True)
class StoreContents:
    """One extractor's part of a store.

    Attributes
    ----------
    extractor : str
    kind : {"slides", "tile set"}
    files : int
        Parquet files (slides, or chunks of a tile set).
    tiles : int
        Tiles stored.
    slides : int
        Slides the store knows of: the status table's rows (done, failed, missing) or,
        without one, the slide files; 0 for a tile set.
    classes : dict of str to int
        A tile set's tiles per class (from ``labels.tsv``); empty for slides.
    status : pandas.DataFrame
        The slide status table (empty for a tile set or a store without one).
    damaged : dict of str to str
        Files that do not hold what they say (``featx extract`` redoes them), by name, with
        the problem; their tiles are not counted.
    """

    extractor: str
    kind: str
    files: int
    tiles: int
    slides: int = 0
    classes: dict[str, int] | None = None
    status: pd.DataFrame | None = None
    damaged: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: "3 slides: 2 done, 1 failed; 600 tiles" or "600 tiles of a tile set ..."."""
        damaged = f"; {len(self.damaged)} damaged" if self.damaged else ""
        if self.kind == "tile set":
            classes = (f", {len(self.classes)} classes" if self.classes else "")
            return (f"tile set: {self.tiles:,} tiles in {self.files} chunk file"
                    f"{'s' * (self.files != 1)}{classes}{damaged}")
        if self.status is not None and len(self.status):
            counts = self.status["status"].value_counts()
            states = ", ".join(f"{counts[k]} {k}" for k in counts.index)
        else:
            states = f"{self.files} stored (no status file: imported, or written without one)"
        return (f"{self.slides} slide{'s' * (self.slides != 1)}: {states}; {self.tiles:,} tiles"
                f"{damaged}")


def store_contents(root: str | Path, extractor: str) -> StoreContents:
    """What ``root`` holds for ``extractor`` (a slide store or a tile set)."""
    root = Path(root)
    files = [slide_path(root, extractor=extractor, slide_id=s)
             for s in list_slides(root, extractor=extractor)]
    damaged = damaged_files(root, extractor=extractor)
    tiles = sum(pq.ParquetFile(f).metadata.num_rows for f in files if f.stem not in damaged)
    if (root / TILESET_FILE).is_file():
        labels = root / "labels.tsv"
        classes = (read_table(labels, what="label table")["label"].astype(str)
                   .value_counts().sort_index().to_dict() if labels.is_file() else {})
        return StoreContents(extractor, "tile set", len(files), tiles, classes=classes,
                             damaged=damaged)
    status = read_status(root, extractor=extractor)
    known = set(status["slide_id"].astype(str)) | {f.stem for f in files}
    return StoreContents(extractor, "slides", len(files), tiles, slides=len(known),
                         status=status, damaged=damaged)
