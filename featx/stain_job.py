"""Normalise a folder of tiles or a slide's tiles to disk, with a before/after montage.

The work behind ``featx normalize``: read tiles in batches, fit the source side
per slide when asked, write normalised tiles (optional), a per-tile status table
and a montage that shows a spread of tiles before and after.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from featx._validate import positive_int
from featx.atomic import atomic_path
from featx.errors import DataNotFoundError
from featx.stain import STATUS_OK, MacenkoNormalizer
from featx.tiling import spread_indices

#: Tile files a folder may hold.
TILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass
class NormalizedTiles:
    """What a normalisation run did.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tile: ``tile`` (name), ``status`` and, if written, ``output``
        (for slides also ``x``, ``y``).
    table_path, montage_path, fit_path : Path
        The status CSV, the montage PNG and the normaliser's JSON fit.
    """

    table: pd.DataFrame
    table_path: Path
    montage_path: Path
    fit_path: Path
    n_flagged: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_flagged = int((self.table["status"] != STATUS_OK).sum())


def list_tiles(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; raises if there are none."""
    root = Path(folder)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in TILE_SUFFIXES and p.is_file())
    if not paths:
        raise DataNotFoundError(
            f"tile images ({', '.join(TILE_SUFFIXES)}) under {root}",
            "Point SOURCE at a folder of tiles, or at a slide file.",
        )
    return paths


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _batches_of_paths(paths: Sequence[Path], batch_size: int) -> Iterator[tuple[list[int], np.ndarray]]:
    """Consecutive same-size tiles, at most ``batch_size`` at a time."""
    idx: list[int] = []
    images: list[np.ndarray] = []
    for i, path in enumerate(paths):
        image = read_rgb(path)
        if images and (image.shape != images[0].shape or len(images) == batch_size):
            yield idx, np.stack(images)
            idx, images = [], []
        idx.append(i)
        images.append(image)
    if images:
        yield idx, np.stack(images)


def normalize_folder(
    folder: str | Path,
    normalizer: MacenkoNormalizer,
    *,
    out_dir: str | Path,
    save_tiles: bool = True,
    montage_tiles: int = 16,
    sample_tiles: int = 32,
    batch_size: int = 64,
    progress: bool = False,
) -> NormalizedTiles:
    """Normalise every tile image under a folder.

    Parameters
    ----------
    folder : str or Path
        Folder of tile images (searched recursively).
    normalizer : MacenkoNormalizer
        A fitted normaliser. In per-slide mode the folder is treated as one
        slide: its source stains are fitted on ``sample_tiles`` tiles spread over it.
    out_dir : str or Path
        Output folder: ``tiles/`` (same relative paths, as PNG), ``status.csv``,
        ``montage.png``, ``stain_fit.json``.
    save_tiles : bool, keyword-only
        Write the normalised tiles; otherwise only the table and montage.
    montage_tiles : int, keyword-only
        Tiles shown in the montage.
    sample_tiles : int, keyword-only
        Tiles the per-slide source fit uses.
    batch_size : int, keyword-only
        Tiles normalised at once.
    progress : bool, keyword-only
        Show a progress bar.

    Returns
    -------
    NormalizedTiles
    """
    batch_size = positive_int("batch_size", batch_size)
    montage_tiles = positive_int("montage_tiles", montage_tiles)
    root, out = Path(folder), Path(out_dir)
    paths = list_tiles(root)
    if normalizer.mode == "per_slide":
        picks = spread_indices(len(paths), positive_int("sample_tiles", sample_tiles))
        sample = [read_rgb(paths[i]) for i in picks]
        shape = sample[0].shape
        normalizer.fit_source(np.stack([s for s in sample if s.shape == shape]))
    shown = set(spread_indices(len(paths), montage_tiles).tolist())
    before: dict[int, np.ndarray] = {}
    after: dict[int, np.ndarray] = {}
    status = np.empty(len(paths), dtype=object)
    outputs: list[str | None] = [None] * len(paths)
    bar = _bar(len(paths), progress, "normalise")
    for idx, tiles in _batches_of_paths(paths, batch_size):
        normalised, flags = normalizer.transform_with_status(tiles)
        for j, i in enumerate(idx):
            status[i] = flags[j]
            if i in shown:
                before[i], after[i] = tiles[j], normalised[j]
            if save_tiles:
                target = out / "tiles" / paths[i].relative_to(root).with_suffix(".png")
                _write_png(target, normalised[j])
                outputs[i] = str(target)
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    table = pd.DataFrame({"tile": [str(p.relative_to(root)) for p in paths], "status": status})
    if save_tiles:
        table["output"] = outputs
    order = sorted(before)
    return _finish(out, normalizer, table, [before[i] for i in order], [after[i] for i in order],
                   [str(status[i]) for i in order])


def normalize_slide(
    slide: object,
    spec: object,
    normalizer: MacenkoNormalizer,
    *,
    out_dir: str | Path,
    save_tiles: bool = False,
    montage_tiles: int = 16,
    sample_tiles: int = 32,
    batch_size: int = 64,
    progress: bool = False,
) -> NormalizedTiles:
    """Normalise the tissue tiles of one slide, laid out by :func:`featx.tiling.grid_coords`.

    Parameters
    ----------
    slide : featx.slide.Slide
        An open slide.
    spec : featx.tiling.TileSpec
        Tile size, resolution and tissue threshold.
    normalizer : MacenkoNormalizer
        A fitted normaliser; in per-slide mode its source is fitted here on
        ``sample_tiles`` tiles spread over the slide.
    out_dir, save_tiles, montage_tiles, sample_tiles, batch_size, progress
        As in :func:`normalize_folder`; tiles are written as
        ``tiles/<slide_id>_x<x>_y<y>.png`` (level-0 coordinates).

    Returns
    -------
    NormalizedTiles
    """
    from featx.tiling import grid_coords, iter_tile_batches, read_tiles

    batch_size = positive_int("batch_size", batch_size)
    montage_tiles = positive_int("montage_tiles", montage_tiles)
    out = Path(out_dir)
    coords = grid_coords(slide, spec).reset_index(drop=True)  # type: ignore[arg-type]
    if coords.empty:
        raise DataNotFoundError(
            f"tissue tiles in {slide.slide_id}",  # type: ignore[attr-defined]
            "Lower --min-tissue, or check the slide with `featx tile` (it draws the tissue mask).",
        )
    if normalizer.mode == "per_slide":
        rows = coords.iloc[spread_indices(len(coords), positive_int("sample_tiles", sample_tiles))]
        normalizer.fit_source(read_tiles(slide, rows))  # type: ignore[arg-type]
    shown = set(spread_indices(len(coords), montage_tiles).tolist())
    before: dict[int, np.ndarray] = {}
    after: dict[int, np.ndarray] = {}
    status = np.empty(len(coords), dtype=object)
    outputs: list[str | None] = [None] * len(coords)
    slide_id = str(slide.slide_id)  # type: ignore[attr-defined]
    batches = iter_tile_batches(slide, coords, batch_size=batch_size,  # type: ignore[arg-type]
                                progress=progress)
    for rows, tiles in batches:
        normalised, flags = normalizer.transform_with_status(tiles)
        for j, i in enumerate(rows.index):
            status[i] = flags[j]
            if i in shown:
                before[i], after[i] = tiles[j], normalised[j]
            if save_tiles:
                x, y = int(rows.at[i, "x"]), int(rows.at[i, "y"])
                target = out / "tiles" / f"{slide_id}_x{x}_y{y}.png"
                _write_png(target, normalised[j])
                outputs[i] = str(target)
    table = pd.DataFrame({"tile": [f"{slide_id}_x{x}_y{y}" for x, y in zip(coords["x"], coords["y"])],
                          "x": coords["x"], "y": coords["y"], "status": status})
    if save_tiles:
        table["output"] = outputs
    order = sorted(before)
    return _finish(out, normalizer, table, [before[i] for i in order], [after[i] for i in order],
                   [str(status[i]) for i in order])


def _finish(out: Path, normalizer: MacenkoNormalizer, table: pd.DataFrame,
            before: list[np.ndarray], after: list[np.ndarray], status: list[str]) -> NormalizedTiles:
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / "status.csv"
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False)
    montage_path = out / "montage.png"
    _write_png(montage_path, montage(before, after, status=status))
    fit_path = normalizer.save(out / "stain_fit.json")
    return NormalizedTiles(table, table_path, montage_path, fit_path)


def montage(
    before: Sequence[np.ndarray],
    after: Sequence[np.ndarray],
    *,
    status: Sequence[str] | None = None,
    tile_px: int = 128,
    columns: int = 8,
) -> np.ndarray:
    """Lay tiles out as pairs of rows: originals above, normalised below.

    Parameters
    ----------
    before, after : sequence of numpy.ndarray
        uint8 RGB tiles, the same number in each.
    status : sequence of str, optional
        Per-tile status; tiles not ``"ok"`` get an orange frame (left unchanged).
    tile_px : int, keyword-only
        Side each tile is drawn at.
    columns : int, keyword-only
        Tiles per row.

    Returns
    -------
    numpy.ndarray
        uint8 RGB image.
    """
    tile_px, columns = positive_int("tile_px", tile_px), positive_int("columns", columns)
    n = len(before)
    columns = max(1, min(columns, n))
    groups = max(1, -(-n // columns))
    gap, label_w = 4, 56
    width = label_w + columns * (tile_px + gap)
    height = groups * (2 * (tile_px + gap) + gap)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for g in range(groups):
        top = g * (2 * (tile_px + gap) + gap)
        draw.text((4, top + tile_px // 2), "before", fill="black")
        draw.text((4, top + tile_px + gap + tile_px // 2), "after", fill="black")
    for k in range(n):
        g, c = divmod(k, columns)
        left = label_w + c * (tile_px + gap)
        top = g * (2 * (tile_px + gap) + gap)
        for r, tile in enumerate((before[k], after[k])):
            y = top + r * (tile_px + gap)
            canvas.paste(Image.fromarray(tile).resize((tile_px, tile_px)), (left, y))
            if status is not None and status[k] != STATUS_OK:
                draw.rectangle([left, y, left + tile_px - 1, y + tile_px - 1], outline=(255, 140, 0),
                               width=3)
    return np.asarray(canvas)


def _write_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def _bar(total: int, progress: bool, desc: str):  # noqa: ANN202 - tqdm or None
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="tile", desc=desc)
