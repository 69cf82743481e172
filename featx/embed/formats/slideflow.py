"""slideflow feature bags: ``<slide>.pt`` tensors and the tile centres in ``<slide>.index.npz``.

A bag is a torch tensor (N, D) read without PyTorch
(:func:`~featx.embed.formats.torch_file.read_torch_tensor`); its ``.index.npz`` holds
the tiles' level-0 *centres*; ``bags_config.json`` beside the bags gives ``tile_px``
and ``tile_um``. The centres become top-left corners in the store's tile columns.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
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
from featx.embed.formats.torch_file import read_member, read_torch_tensor
from featx.errors import DataError, DataNotFoundError, FeatxError

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


def _read_index(path: Path) -> tuple[str, np.ndarray]:
    """The tile centres of ``<slide>.index.npz``, checked like a bag's tensors before reading.

    An ``.npy`` header may declare any shape, and NumPy allocates it before reading: the
    member is read bounded (:func:`~featx.embed.formats.torch_file.read_member`) and its
    declared shape must fit in the bytes it holds.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
            key = next((k for k in ("arr_0", "locations") if k in names), names[0] if names else "")
            data = read_member(archive, f"{key}.npy")
        buffer = io.BytesIO(data)
        version = np.lib.format.read_magic(buffer)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(buffer)
        if dtype.hasobject or math.prod(shape) * dtype.itemsize > len(data) - buffer.tell():
            raise ValueError(f"its header declares {shape} {dtype} in {len(data)} bytes")
        buffer.seek(0)
        return key, np.load(buffer, allow_pickle=False)
    except FeatxError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged or hostile file: it fails alone
        raise DataError(str(path), f"not a NumPy .npz of tile locations ({type(error).__name__}: "
                        f"{error!s:.160})", "Copy the .index.npz slideflow wrote with the bag") from None


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
    index = path.with_name(f"{path.stem}.index.npz")
    if not index.is_file():  # before the tensor: a bag without it is not worth reading
        raise DataNotFoundError(f"tile locations {index}", "slideflow writes <slide>.index.npz "
                                "beside each bag; copy it with the .pt file")
    features = feature_array(read_torch_tensor(path), path)
    key, locations = _read_index(index)
    centres = coords_xy(locations, len(features), index)
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
