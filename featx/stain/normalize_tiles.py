"""Normalise a folder of tiles or a slide's tiles to disk, with a before/after montage.

The work behind ``featx normalize``: read tiles in batches, fit the source side
per slide when asked, write normalised tiles (optional), a per-tile status table
and a montage that shows a spread of tiles before and after. A tile image that
cannot be read (truncated, not an image) gets status ``unreadable`` and its error
in the table; the other tiles are normalised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from featx._io import IMAGE_SUFFIXES, atomic_path, read_rgb, write_table
from featx._validate import positive_int
from featx.errors import DataError, DataNotFoundError
from featx.stain.macenko import STATUS_OK, MacenkoNormalizer
from featx.wsi.slide import Slide
from featx.wsi.tiling import TileSpec, grid_coords, iter_tile_batches, read_tiles, spread_indices

#: Status of a tile image that could not be read.
STATUS_UNREADABLE = "unreadable"


@dataclass
class NormalizedTiles:
    """What a normalisation run did.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tile: ``tile`` (name), ``status`` and, if written, ``output``
        (for slides also ``x``, ``y``); ``error`` when some tile was ``unreadable``.
    table_path, montage_path, fit_path : Path
        The status CSV, the montage PNG and the normaliser's JSON fit.
    """

    table: pd.DataFrame
    table_path: Path
    montage_path: Path
    fit_path: Path
    n_flagged: int = field(init=False)
    n_unreadable: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_unreadable = int((self.table["status"] == STATUS_UNREADABLE).sum())
        self.n_flagged = int((self.table["status"] != STATUS_OK).sum()) - self.n_unreadable


def list_tiles(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; raises if there are none."""
    root = Path(folder)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataNotFoundError(
            f"tile images ({', '.join(IMAGE_SUFFIXES)}) under {root}",
            "Point SOURCE at a folder of tiles, or at a slide file.",
        )
    return paths


def _batches_of_paths(paths: Sequence[Path], batch_size: int, failed: dict[int, str],
                      ) -> Iterator[tuple[list[int], np.ndarray]]:
    """Consecutive same-size tiles, at most ``batch_size`` at a time; unreadable ones to ``failed``."""
    idx: list[int] = []
    images: list[np.ndarray] = []
    for i, path in enumerate(paths):
        try:
            image = read_rgb(path)
        except (DataError, DataNotFoundError) as error:  # one bad tile never stops the folder
            failed[i] = str(error)
            continue
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
    root = Path(folder)
    paths = list_tiles(root)
    if normalizer.mode == "per_slide":
        picks = spread_indices(len(paths), positive_int("sample_tiles", sample_tiles))
        sample = [image for image in (_try_read(paths[i]) for i in picks) if image is not None]
        if not sample:
            raise DataError(f"tiles under {root}", "none of the sampled tiles can be read",
                            "Check the folder's images (re-export truncated ones)")
        shape = sample[0].shape
        normalizer.fit_source(np.stack([s for s in sample if s.shape == shape]))
    names = [str(p.relative_to(root)) for p in paths]
    outputs = [str(p.relative_to(root).with_suffix(".png")) for p in paths]
    failed: dict[int, str] = {}
    return _normalize(_batches_of_paths(paths, batch_size, failed), names, outputs, normalizer,
                      Path(out_dir), save_tiles=save_tiles, montage_tiles=montage_tiles,
                      progress=progress, failed=failed)


def _try_read(path: Path) -> np.ndarray | None:
    try:
        return read_rgb(path)
    except (DataError, DataNotFoundError):
        return None


def normalize_slide(
    slide: Slide,
    spec: TileSpec,
    normalizer: MacenkoNormalizer,
    *,
    out_dir: str | Path,
    save_tiles: bool = False,
    montage_tiles: int = 16,
    sample_tiles: int = 32,
    batch_size: int = 64,
    progress: bool = False,
) -> NormalizedTiles:
    """Normalise the tissue tiles of one slide, laid out by :func:`featx.wsi.grid_coords`.

    Parameters
    ----------
    slide : featx.wsi.Slide
        An open slide.
    spec : featx.wsi.TileSpec
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
    batch_size = positive_int("batch_size", batch_size)
    coords = grid_coords(slide, spec).reset_index(drop=True)
    if coords.empty:
        raise DataNotFoundError(
            f"tissue tiles in {slide.slide_id}",
            "Lower --min-tissue, or check the slide with `featx tile` (it draws the tissue mask).",
        )
    if normalizer.mode == "per_slide":
        rows = coords.iloc[spread_indices(len(coords), positive_int("sample_tiles", sample_tiles))]
        normalizer.fit_source(read_tiles(slide, rows))
    names = [f"{slide.slide_id}_x{x}_y{y}" for x, y in zip(coords["x"], coords["y"])]
    batches = ((list(rows.index), tiles)
               for rows, tiles in iter_tile_batches(slide, coords, batch_size=batch_size))
    return _normalize(batches, names, [f"{n}.png" for n in names], normalizer, Path(out_dir),
                      save_tiles=save_tiles, montage_tiles=montage_tiles, progress=progress,
                      columns={"x": coords["x"], "y": coords["y"]})


def _normalize(batches: Iterable[tuple[list[int], np.ndarray]], names: list[str],
               outputs: list[str], normalizer: MacenkoNormalizer, out: Path, *,
               save_tiles: bool, montage_tiles: int, progress: bool,
               columns: dict[str, object] | None = None,
               failed: dict[int, str] | None = None) -> NormalizedTiles:
    """The loop both runs share: normalise each batch, keep a spread for the montage, write."""
    from tqdm.auto import tqdm

    shown = set(spread_indices(len(names), positive_int("montage_tiles", montage_tiles)).tolist())
    before: dict[int, np.ndarray] = {}
    after: dict[int, np.ndarray] = {}
    status = np.empty(len(names), dtype=object)
    written: list[str | None] = [None] * len(names)
    with tqdm(total=len(names), unit="tile", desc="normalise", disable=not progress) as bar:
        for idx, tiles in batches:
            normalised, flags = normalizer.transform_with_status(tiles)
            for j, i in enumerate(idx):
                status[i] = flags[j]
                if i in shown:
                    before[i], after[i] = tiles[j], normalised[j]
                if save_tiles:
                    target = out / "tiles" / outputs[i]
                    _write_png(target, normalised[j])
                    written[i] = str(target)
            bar.update(len(idx))
    failed = failed or {}  # filled while the batches were read
    for i in failed:
        status[i] = STATUS_UNREADABLE
    table = pd.DataFrame({"tile": names, **(columns or {}), "status": status})
    if save_tiles:
        table["output"] = written
    if failed:
        table["error"] = [failed.get(i, "") for i in range(len(names))]
    order = sorted(before)
    out.mkdir(parents=True, exist_ok=True)
    table_path = write_table(table, out / "status.csv")
    montage_path = out / "montage.png"
    _write_png(montage_path, montage([before[i] for i in order], [after[i] for i in order],
                                     status=[str(status[i]) for i in order]))
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
