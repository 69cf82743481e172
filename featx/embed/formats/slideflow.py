"""slideflow feature bags: ``<slide>.pt`` tensors and the tile centres in ``<slide>.index.npz``.

A bag is a torch tensor (N, D) read without PyTorch
(:func:`~featx.embed.formats.torch_file.read_torch_tensor`); its ``.index.npz`` holds
the tiles' level-0 *centres*; ``bags_config.json`` beside the bags gives ``tile_px``
and ``tile_um``. The centres become top-left corners in the store's tile columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from featx.embed.formats.foreign_slide import (
    ForeignSlide,
    coords_xy,
    feature_array,
    first_number,
    tile_side,
    tile_table,
)
from featx.embed.formats.torch_file import read_torch_tensor
from featx.errors import DataError, DataNotFoundError

#: The suffix of a bag's tensor file.
SLIDEFLOW_SUFFIXES = (".pt",)


def _bag_config(path: Path) -> dict[str, Any]:
    config = path.parent / "bags_config.json"
    if not config.is_file():
        return {}
    try:
        return dict(json.loads(config.read_text()))
    except (ValueError, TypeError):
        raise DataError(str(config), "is not a JSON object", "Fix or remove it") from None


def read_slideflow_bag(path: str | Path, *, slide_id: str | None = None,
                       slide_mpp: float | None = None, patch_px: int | None = None,
                       tile_um: float | None = None) -> ForeignSlide:
    """Read a slideflow feature bag: ``<slide>.pt`` and its ``<slide>.index.npz`` of tile centres.

    Parameters
    ----------
    path : path
        The ``.pt`` file.
    slide_id : str, optional
        Default: the file's stem.
    slide_mpp : float, optional
        Level-0 microns per pixel: with ``tile_um`` it gives the tile side at level 0.
    patch_px : int, optional
        Tile side in level-0 pixels (default: ``tile_um / slide_mpp``, else the grid spacing
        of the tile centres).
    tile_um : float, optional
        Tile side in microns (default: ``bags_config.json`` beside the bag).
    """
    path = Path(path)
    features = feature_array(read_torch_tensor(path), path)
    index = path.with_name(f"{path.stem}.index.npz")
    if not index.is_file():
        raise DataNotFoundError(f"tile locations {index}", "slideflow writes <slide>.index.npz "
                                "beside each bag; copy it with the .pt file")
    with np.load(index, allow_pickle=False) as saved:
        key = "arr_0" if "arr_0" in saved.files else ("locations" if "locations" in saved.files
                                                     else saved.files[0])
        centres = coords_xy(saved[key], len(features), index)
    config = _bag_config(path)
    tile_um = tile_um or first_number(config.get("tile_um"))
    tile_px = first_number(config.get("tile_px"))
    if patch_px:
        side0, source = float(patch_px), "argument"
    elif tile_um and slide_mpp:
        side0, source = tile_um / slide_mpp, "tile_um / slide_mpp"
    else:
        side0, source = tile_side(centres, path), "coordinate spacing"
    tile_px = int(tile_px or round(side0))
    tile_mpp = tile_um / tile_px if tile_um else (slide_mpp * side0 / tile_px if slide_mpp else None)
    table = tile_table(centres - side0 / 2, side0=side0, stride0=side0, level=0,
                       read_px=int(round(side0)), tile_px=tile_px, tile_mpp=tile_mpp)
    geometry = {"side_level0_px": side0, "side_from": source, "locations": "centres",
                "tile_um": None if tile_mpp is None else tile_mpp * tile_px}
    return ForeignSlide(slide_id or path.stem, table, features, "slideflow",
                        {"bags_config": config, "index_key": key}, geometry)


__all__ = ["SLIDEFLOW_SUFFIXES", "read_slideflow_bag"]
