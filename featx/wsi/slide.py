"""Open a whole-slide image and read it at a known physical resolution.

Everything downstream needs the microns per pixel (mpp) of level 0. It comes
from the slide's metadata or from an explicit override; a slide without either
raises :class:`~featx.errors.MissingMppError` instead of silently assuming one.

Files are opened by :mod:`featx.wsi.readers`: OpenSlide first, then tifffile
(OME-TIFF, plain and striped TIFF) and pydicom (DICOM WSI OpenSlide cannot
classify), all behind the same :class:`Slide`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from featx._validate import MPP_RANGE, fits_in_memory, mpp, non_negative_int, positive_float, positive_int
from featx.errors import DataNotFoundError, InvalidParameterError, MissingMppError, SlideError
from featx.wsi.readers import Reader, diagnose, open_reader

#: File suffixes taken for slides when a folder is searched (:func:`find_slides`).
#: DICOM (``.dcm``) is not among them: one slide's levels are several files, so a DICOM
#: slide is named by one of its files (or their folder) explicitly.
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".svslide", ".bif", ".vms")
#: Plausible range of a microscope scan's mpp; outside it a metadata value is not trusted
#: and an override is refused (the one range of :mod:`featx._validate`).
PLAUSIBLE_MPP = MPP_RANGE

_MICRONS_PER_UNIT = {"centimeter": 1e4, "inch": 25400.0, "millimeter": 1e3, "micrometer": 1.0}
# read_region in chunks no larger than this, so huge levels never sit in memory whole.
_CHUNK_PX = 4096


@dataclass(frozen=True)
class SlideInfo:
    """What featx knows about a slide file.

    Attributes
    ----------
    path : Path
        The slide file.
    slide_id : str
        Identifier used in every table (by default the file name without extension).
    width, height : int
        Level-0 size in pixels.
    level_count : int
        Number of pyramid levels.
    level_dimensions : tuple of (int, int)
        (width, height) of each level.
    level_downsamples : tuple of float
        Level-0 pixels per pixel of each level.
    vendor : str or None
        Format detected by OpenSlide (``"aperio"``, ``"generic-tiff"``, ...), or
        ``"ome-tiff"``, ``"tiff"``, ``"dicom"`` for files its fallbacks read.
    slide_mpp : float
        Microns per level-0 pixel.
    slide_mpp_source : str
        Where ``slide_mpp`` came from: ``"override"``, ``"openslide"``, ``"aperio"``, ``"ome"``,
        ``"dicom"`` or ``"tiff"``.
    objective_power : float or None
        Scanning magnification if recorded (informational only: featx works in mpp).
    reader : str
        Which reader opened it: ``"openslide"``, ``"tifffile"`` or ``"dicom"``.
    """

    path: Path
    slide_id: str
    width: int
    height: int
    level_count: int
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    vendor: str | None
    slide_mpp: float
    slide_mpp_source: str
    objective_power: float | None
    reader: str = "openslide"

    @property
    def config(self) -> dict[str, Any]:
        """JSON identity of the slide (recorded with every output made from it)."""
        return {
            "path": str(self.path), "slide_id": self.slide_id, "width": self.width,
            "height": self.height, "level_count": self.level_count,
            "level_dimensions": [list(d) for d in self.level_dimensions],
            "level_downsamples": list(self.level_downsamples), "vendor": self.vendor,
            "slide_mpp": self.slide_mpp, "slide_mpp_source": self.slide_mpp_source,
            "objective_power": self.objective_power, "reader": self.reader,
        }


class Slide:
    """An open slide. Create it with :func:`open_slide`; use it as a context manager.

    Reads return uint8 RGB NumPy arrays; transparent areas (outside the scanned
    region) come back white, like glass.
    """

    def __init__(self, handle: Reader, info: SlideInfo) -> None:
        self._handle = handle
        self.info = info

    # -- convenience ---------------------------------------------------------
    @property
    def path(self) -> Path:
        """The slide file."""
        return self.info.path

    @property
    def slide_id(self) -> str:
        """Identifier of the slide in tables."""
        return self.info.slide_id

    @property
    def slide_mpp(self) -> float:
        """Microns per level-0 pixel."""
        return self.info.slide_mpp

    def __repr__(self) -> str:
        i = self.info
        return (f"Slide({i.slide_id!r}, {i.width}x{i.height} px, {i.slide_mpp:.4g} mpp, "
                f"{i.level_count} levels)")

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # -- reading -------------------------------------------------------------
    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample``.

        Reading from it and shrinking never upsamples; a 1% tolerance absorbs
        rounding in the stored downsamples.
        """
        downsample = positive_float("downsample", downsample)
        fits = [i for i, d in enumerate(self.info.level_downsamples) if d <= downsample * 1.01]
        return fits[-1] if fits else 0

    def read_region(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read a region as uint8 RGB.

        Parameters
        ----------
        x, y : int
            Top-left corner in level-0 pixels.
        level : int
            Pyramid level to read from.
        width, height : int
            Size in pixels of ``level``.

        Returns
        -------
        numpy.ndarray
            uint8 array of shape (height, width, 3).
        """
        if self._handle is None:
            raise SlideError(self.path, "the slide is closed; open it again with open_slide()")
        level = non_negative_int("level", level)
        if level >= self.info.level_count:
            raise InvalidParameterError("level", f"an int below {self.info.level_count}", level)
        width, height = positive_int("width", width), positive_int("height", height)
        fits_in_memory(f"reading {width} x {height} px of {self.slide_id}", width * height * 4.0,
                       fix="lower the tile size or read a coarser level")
        return self._handle.read(int(x), int(y), level, width, height)

    def read_level(self, level: int) -> np.ndarray:
        """Read a whole level as uint8 RGB (mind the size: prefer :meth:`thumbnail`)."""
        w, h = self.info.level_dimensions[non_negative_int("level", level)]
        return self.read_region(0, 0, level, w, h)

    def thumbnail(self, *, thumbnail_mpp: float = 8.0) -> np.ndarray:
        """The whole slide as uint8 RGB at about ``thumbnail_mpp`` microns per pixel.

        Reads from the best pyramid level in chunks and shrinks each chunk, so
        memory stays bounded even for slides stored without a pyramid.

        Parameters
        ----------
        thumbnail_mpp : float, default 8.0
            Microns per pixel of the thumbnail; no finer than the slide's own.

        Returns
        -------
        numpy.ndarray
            uint8 array (h, w, 3) with h = round(height * slide_mpp / thumbnail_mpp).
        """
        from PIL import Image

        # level-0 px per thumbnail px
        scale = max(positive_float("thumbnail_mpp", thumbnail_mpp) / self.slide_mpp, 1.0)
        out_w = max(1, round(self.info.width / scale))
        out_h = max(1, round(self.info.height / scale))
        fits_in_memory(f"a {out_w} x {out_h} px thumbnail of {self.slide_id}", out_w * out_h * 3.0,
                       fix="raise the thumbnail's mpp (for tiling: the tile's --tile-mpp)")
        level = self.best_level(scale)
        ds = self.info.level_downsamples[level]
        lw, lh = self.info.level_dimensions[level]
        out = np.empty((out_h, out_w, 3), np.uint8)
        # Chunks are aligned to whole output pixels so that no seam appears.
        step = max(1, int(_CHUNK_PX * ds / scale))  # output px per chunk
        for oy in range(0, out_h, step):
            for ox in range(0, out_w, step):
                ow, oh = min(step, out_w - ox), min(step, out_h - oy)
                lx0, ly0 = int(ox * scale / ds), int(oy * scale / ds)
                lx1 = min(lw, max(lx0 + 1, math.ceil((ox + ow) * scale / ds)))
                ly1 = min(lh, max(ly0 + 1, math.ceil((oy + oh) * scale / ds)))
                chunk = self.read_region(round(lx0 * ds), round(ly0 * ds), level,
                                         lx1 - lx0, ly1 - ly0)
                img = Image.fromarray(chunk).resize((ow, oh), Image.Resampling.BOX)
                out[oy:oy + oh, ox:ox + ow] = np.asarray(img)
        return out


def open_slide(path: str | Path, *, slide_mpp: float | None = None,
               slide_id: str | None = None) -> Slide:
    """Open a whole-slide image: OpenSlide, else tifffile, else pydicom.

    Parameters
    ----------
    path : str or Path
        Any format OpenSlide reads (Aperio .svs, generic tiled TIFF, .ndpi, .mrxs,
        DICOM...), an OME-TIFF or any RGB/grey TIFF (pyramidal or not), or a DICOM
        WSI file (its folder's instances of the same series are its levels) or folder.
    slide_mpp : float, optional
        Microns per level-0 pixel. Overrides the metadata; required when the
        slide records none.
    slide_id : str, optional
        Identifier used in tables; defaults to the file name without its extension
        (``name.ome.tif`` gives ``name``).

    Returns
    -------
    Slide

    Raises
    ------
    SlideError
        The file is missing, empty, truncated, not a slide, or intact but in a
        layout no reader handles; the message names the file and which it is.
    MissingMppError
        No mpp in the metadata and none given.
    """
    path = Path(path)
    if slide_mpp is not None:
        slide_mpp = mpp("slide_mpp", slide_mpp)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        raise SlideError(path, diagnose(path))
    handle = open_reader(path)
    try:
        info = _slide_info(path, handle, slide_mpp, slide_id)
        slide = Slide(handle, info)
        # Touch the smallest level once: truncated files fail here, with the file's name.
        last = info.level_count - 1
        slide.read_region(0, 0, last, *(min(64, d) for d in info.level_dimensions[last]))
    except BaseException:
        handle.close()
        raise
    return slide


def _vendor(handle: Reader) -> str | None:
    props = handle.properties
    if handle.name == "openslide":
        return props.get("openslide.vendor")
    if handle.name == "tifffile":
        return "ome-tiff" if props.get("tifffile.format") == "ome" else "tiff"
    return handle.name


def _slide_info(path: Path, handle: Reader, override: float | None,
                slide_id: str | None) -> SlideInfo:
    props = handle.properties
    mpp, source = (override, "override") if override is not None else metadata_mpp(props)
    if mpp is None:
        raise MissingMppError(path)
    power = props.get("openslide.objective-power")
    (width, height), *_ = handle.level_dimensions
    return SlideInfo(
        path=path,
        slide_id=slide_id or default_slide_id(path),
        width=int(width),
        height=int(height),
        level_count=len(handle.level_dimensions),
        level_dimensions=tuple((int(w), int(h)) for w, h in handle.level_dimensions),
        level_downsamples=tuple(float(d) for d in handle.level_downsamples),
        vendor=_vendor(handle),
        slide_mpp=float(mpp),
        slide_mpp_source=source,
        objective_power=_to_float(power),
        reader=handle.name,
    )


def metadata_mpp(properties: dict[str, str]) -> tuple[float | None, str]:
    """Microns per pixel from OpenSlide properties, and where it was found.

    Tries OpenSlide's normalised ``openslide.mpp-x``, then the Aperio
    description's ``MPP``, OME's PhysicalSizeX (``ome.mpp-x``), DICOM's
    PixelSpacing (``dicom.mpp-x``), then the TIFF resolution tags. Values outside
    :data:`PLAUSIBLE_MPP` (such as the 72-dpi default some writers put in) are
    ignored.

    Returns
    -------
    (float or None, str)
        The mpp, or None, and its source name.
    """
    candidates = [
        ("openslide", _to_float(properties.get("openslide.mpp-x"))),
        ("aperio", _to_float(properties.get("aperio.MPP"))),
        ("aperio", _aperio_description_mpp(properties.get("tiff.ImageDescription", ""))),
        ("ome", _to_float(properties.get("ome.mpp-x"))),
        ("dicom", _to_float(properties.get("dicom.mpp-x"))),
        ("tiff", _tiff_resolution_mpp(properties)),
    ]
    for source, value in candidates:
        if value is not None and PLAUSIBLE_MPP[0] <= value <= PLAUSIBLE_MPP[1]:
            return value, source
    return None, "none"


def _aperio_description_mpp(description: str) -> float | None:
    match = re.search(r"\|\s*MPP\s*=\s*([0-9.eE+-]+)", description)
    return _to_float(match.group(1)) if match else None


def _tiff_resolution_mpp(properties: dict[str, str]) -> float | None:
    unit = properties.get("tiff.ResolutionUnit", "").lower()
    pixels_per_unit = _to_float(properties.get("tiff.XResolution"))
    if unit not in _MICRONS_PER_UNIT or not pixels_per_unit:
        return None
    return _MICRONS_PER_UNIT[unit] / pixels_per_unit


def _to_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def default_slide_id(path: str | Path) -> str:
    """The slide id of a file: its name without extension, ``name.ome.tif`` giving ``name``."""
    path = Path(path)
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def find_slides(folder: str | Path) -> dict[str, Path]:
    """Slide files below ``folder`` (by :data:`SLIDE_SUFFIXES`), keyed by slide id (file stem)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"slide folder {folder}", "Pass the folder holding the slides.")
    return {default_slide_id(p): p for p in sorted(folder.rglob("*"))
            if p.suffix.lower() in SLIDE_SUFFIXES}
