"""The readers behind :class:`featx.wsi.slide.Slide`: OpenSlide first, tifffile where it cannot.

OpenSlide reads the scanners' formats (Aperio, Hamamatsu, MIRAX, tiled generic TIFF,
DICOM with a full ImageType). Labs also hold files it does not classify: OME-TIFFs
exported by QuPath or Bio-Formats, plain non-pyramidal (striped) RGB TIFFs. Those
are read with tifffile, segment by segment, so memory stays bounded by the region
asked for plus a small cache of decoded tiles or strips, however large the image.

Every reader gives the same thing: level sizes and downsamples, a properties dict in
OpenSlide's naming (``tiff.XResolution``, ``tiff.ResolutionUnit``, ``ome.mpp-x``...),
and ``read(x, y, level, width, height)`` returning uint8 RGB with areas outside the
image white. When no reader opens a file, :func:`diagnose` tells apart a missing,
empty, truncated, unsupported, or intact-but-unreadable file.

(Over 450 lines because the fallback readers and the diagnosis of files none opens
share their knowledge of TIFF layouts; apart they would repeat it.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from featx.errors import SlideError
from featx.wsi._cache import DecodedCache

#: Readers tried in this order by :func:`open_reader`.
READERS = ("openslide", "tifffile", "dicom")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# OME length units to microns (OME's UnitsLength; the default is the micrometre).
_OME_UNITS_UM = {"µm": 1.0, "um": 1.0, "micron": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4,
                 "m": 1e6, "pm": 1e-6, "Å": 1e-4, "in": 25400.0}
# TIFF ResolutionUnit codes (4 and 5 are tifffile's extensions, also seen in the wild).
_RESUNIT_NAMES = {2: "inch", 3: "centimeter", 4: "millimeter", 5: "micrometer"}
# A compressed strip or tile larger than this is refused rather than decoded whole.
_MAX_SEGMENT_BYTES = 1 << 30
_CONVERT_HINT = ("convert it to a pyramidal OME-TIFF (QuPath: File > Export images > "
                 "OME-TIFF; Bio-Formats: bfconvert -pyramid-resolutions 4 in out.ome.tif)")


class Reader(Protocol):
    """What :class:`~featx.wsi.slide.Slide` needs from a file reader."""

    name: str
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    properties: dict[str, str]

    def read(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """uint8 RGB (height, width, 3) at ``level``; (x, y) in level-0 pixels."""

    def close(self) -> None:
        """Release the file."""


# --------------------------------------------------------------------------- OpenSlide


class OpenSlideReader:
    """A file OpenSlide opens; its properties are OpenSlide's, plus OME sizes for TIFFs."""

    name = "openslide"

    def __init__(self, path: Path) -> None:
        import openslide

        self.path = path
        self._slide = openslide.OpenSlide(str(path))
        self.level_dimensions = tuple((int(w), int(h)) for w, h in self._slide.level_dimensions)
        self.level_downsamples = tuple(float(d) for d in self._slide.level_downsamples)
        self.properties = dict(self._slide.properties)
        if "openslide.mpp-x" not in self.properties and is_tiff(path):
            # OpenSlide reads a tiled OME-TIFF as generic TIFF but not its OME sizes.
            self.properties.update(_ome_properties(path))

    def read(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read a region (see :class:`Reader`)."""
        import openslide

        try:
            rgba = self._slide.read_region((x, y), level, (width, height))
        except openslide.OpenSlideError as error:
            raise SlideError(self.path, f"cannot read {width}x{height} px at ({x}, {y}) level "
                             f"{level}: {error}. {diagnose(self.path)}") from error
        return rgba_to_rgb(np.asarray(rgba))

    def close(self) -> None:
        """Release the file."""
        self._slide.close()


def rgba_to_rgb(rgba: np.ndarray) -> np.ndarray:
    """Composite an RGBA array over white (OpenSlide marks unscanned areas transparent)."""
    rgb, alpha = rgba[..., :3], rgba[..., 3]
    if alpha.min() == 255:
        import cv2

        # A contiguous copy: a strided view costs 1 ms a 448 px tile in every later copy
        # (PIL's fromarray, NumPy), OpenCV's conversion 0.02 ms.
        return cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2RGB)
    a = alpha[..., None].astype(np.float32) / 255.0
    return (rgb * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- tifffile


class TiffReader:
    """Any RGB or grey TIFF tifffile parses: OME-TIFF (SubIFD pyramids), striped or tiled.

    Levels are the first series' levels (an OME or SVS pyramid read from SubIFDs or
    pages) or a generic pyramid's reduced pages (:func:`_pyramid`); a single-level
    image is read from level 0 in chunks, which is what a pyramid built on the fly
    would cost anyway. Decoded segments are cached (LRU, bounded in bytes), so
    neighbouring tiles that share a segment decode it once.
    Uncompressed contiguous pixels (a plain TIFF, even one written as a single strip)
    are memory-mapped and sliced instead, so no strip is ever decoded whole.
    """

    name = "tifffile"

    def __init__(self, path: Path) -> None:
        import tifffile

        self.path = path
        with quiet_tifffile():  # series and pages are parsed lazily: keep quiet throughout
            self._tif = tifffile.TiffFile(str(path))
            try:
                self._open()
            except BaseException:
                self._tif.close()
                raise
        self._io_lock = threading.Lock()
        self._cache = DecodedCache()
        self._maps = [self._memmap(page) for page in self._pages]

    def _open(self) -> None:
        """Levels, sizes and properties; a level whose data runs past the end is truncation."""
        path = self.path
        self._pages = [_rgb_page(path, level) for level in _pyramid(self._tif)]
        size = path.stat().st_size
        for page in self._pages:
            end = max((o + c for o, c in zip(page.dataoffsets, page.databytecounts)), default=0)
            if end > size:
                raise SlideError(path, truncated_reason(size, end))
        for page in self._pages:
            seg_w, seg_h = _segment_size(page)
            decoded = seg_w * seg_h * page.samplesperpixel * page.dtype.itemsize
            if decoded > _MAX_SEGMENT_BYTES and not page.is_memmappable:
                raise SlideError(path, f"an intact TIFF stored in compressed pieces of "
                                 f"{decoded / 2**30:.1f} GiB each (one strip per "
                                 f"{seg_h:,} rows), too large to decode one at a time; "
                                 f"{_CONVERT_HINT}")
        w0 = self._pages[0].imagewidth
        self.level_dimensions = tuple((p.imagewidth, p.imagelength) for p in self._pages)
        self.level_downsamples = tuple(w0 / p.imagewidth for p in self._pages)
        self.properties = tiff_properties(self._tif)

    def _memmap(self, page: Any) -> np.ndarray | None:
        import tifffile

        if not page.is_memmappable or not isinstance(page.index, int):
            return None
        try:
            return tifffile.memmap(str(self.path), page=page.index, mode="r")
        except Exception:  # noqa: BLE001 - then segments are decoded instead
            return None

    def read(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read a region (see :class:`Reader`); outside the image is white."""
        page = self._pages[level]
        ds = self.level_downsamples[level]
        lx, ly = math.floor(x / ds), math.floor(y / ds)
        out = np.full((height, width, 3), 255, np.uint8)
        x0, y0 = max(lx, 0), max(ly, 0)  # the part inside the image, in level pixels
        x1, y1 = min(lx + width, page.imagewidth), min(ly + height, page.imagelength)
        if x1 <= x0 or y1 <= y0:
            return out
        mapped = self._maps[level]
        if mapped is not None:
            out[y0 - ly:y1 - ly, x0 - lx:x1 - lx] = _to_rgb8(np.asarray(mapped[y0:y1, x0:x1]),
                                                             page)
            return out
        seg_w, seg_h = _segment_size(page)
        across = math.ceil(page.imagewidth / seg_w)
        for sy in range(y0 // seg_h, math.ceil(y1 / seg_h)):
            for sx in range(x0 // seg_w, math.ceil(x1 / seg_w)):
                seg = self._segment(level, page, sy * across + sx)
                top, left = sy * seg_h, sx * seg_w
                ya, yb = max(y0, top), min(y1, top + seg_h)
                xa, xb = max(x0, left), min(x1, left + seg_w)
                out[ya - ly:yb - ly, xa - lx:xb - lx] = seg[ya - top:yb - top, xa - left:xb - left]
        return out

    def _segment(self, level: int, page: Any, index: int) -> np.ndarray:
        key = (level, index)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        with self._io_lock:
            handle = self._tif.filehandle
            handle.seek(page.dataoffsets[index])
            data = handle.read(page.databytecounts[index])
        if len(data) < page.databytecounts[index]:
            raise SlideError(self.path, truncated_reason(self.path.stat().st_size,
                                                         page.dataoffsets[index] + len(data)))
        try:
            segment, _, _ = page.decode(data, index, jpegtables=page.jpegtables,
                                        jpegheader=page.jpegheader)
        except Exception as error:  # noqa: BLE001 - codecs raise their own types
            raise SlideError(self.path, f"segment {index} of level {level} cannot be decoded "
                             f"({type(error).__name__}: {error}); the file is damaged, "
                             "download or export it again") from error
        rgb = _to_rgb8(np.asarray(segment)[0], page)
        self._cache.put(key, rgb)
        return rgb

    def close(self) -> None:
        """Release the file."""
        self._maps = [None] * len(self._maps)
        self._cache.clear()
        self._tif.close()


def _pyramid(tif: Any) -> list[Any]:
    """The pyramid's levels: the first series' own (OME SubIFDs, SVS), else a generic one.

    A generic TIFF pyramid is reduced-resolution pages of the same aspect ratio, which
    tifffile gives as series of their own; labels and macro images have other shapes.
    """
    levels = list(tif.series[0].levels)
    if len(levels) > 1:
        return levels
    base = levels[0].keyframe
    ratio = base.imagewidth / base.imagelength
    found = [levels[0]]
    for series in tif.series[1:]:
        page = series.levels[0].keyframe
        smaller = page.imagewidth < found[-1].keyframe.imagewidth / 1.5
        if (smaller and abs(page.imagewidth / page.imagelength - ratio) < 0.02 * ratio
                and page.samplesperpixel == base.samplesperpixel):
            found.append(series.levels[0])
    return found


def _rgb_page(path: Path, level: Any) -> Any:
    """The page of one pyramid level, checked to be an RGB(A) or grey image featx can read."""
    page = level.keyframe
    samples = int(page.samplesperpixel)
    if len(level.pages) != 1 or level.ndim not in (2, 3):
        raise SlideError(path, f"an intact TIFF with a {level.axes} image of shape "
                         f"{level.shape}, not one RGB or grey plane; {_CONVERT_HINT}")
    if samples > 1 and int(page.planarconfig) != 1:
        raise SlideError(path, "an intact TIFF with colour planes stored separately "
                         f"(PlanarConfiguration 2); {_CONVERT_HINT}")
    if page.dtype is None or page.dtype.kind not in "ub" or samples not in (1, 2, 3, 4):
        raise SlideError(path, f"an intact TIFF of {samples}-sample {page.dtype} pixels, not "
                         f"8/16-bit RGB or grey; {_CONVERT_HINT}")
    if int(page.photometric) == 3:  # palette images need their colour map; rare for slides
        raise SlideError(path, f"an intact TIFF with a colour palette; {_CONVERT_HINT}")
    return page


def _segment_size(page: Any) -> tuple[int, int]:
    if page.is_tiled:
        return int(page.tilewidth), int(page.tilelength)
    return int(page.imagewidth), int(min(page.rowsperstrip or page.imagelength, page.imagelength))


def _to_rgb8(segment: np.ndarray, page: Any) -> np.ndarray:
    """A decoded (h, w[, s]) segment as uint8 RGB, grey repeated and alpha over white."""
    if segment.dtype.itemsize == 2:
        segment = (segment.astype(np.uint32) * 255 + 32767) // 65535  # full 16-bit range
    segment = segment.astype(np.uint8, copy=False)
    if segment.ndim == 2:
        segment = segment[..., None]
    if int(page.photometric) == 0:  # MINISWHITE: 0 is white
        segment = 255 - segment
    if segment.shape[-1] in (2, 4):
        colour, alpha = segment[..., :-1], segment[..., -1:].astype(np.float32) / 255.0
        segment = (colour * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    if segment.shape[-1] == 1:
        segment = np.repeat(segment, 3, axis=-1)
    return segment


def tiff_properties(tif: Any) -> dict[str, str]:
    """OpenSlide-style properties of an open ``tifffile.TiffFile``: description, resolution, OME.

    ``tiff.XResolution`` is in pixels per ``tiff.ResolutionUnit`` (centimeter, inch,
    millimeter, micrometer); ``ome.mpp-x`` is OME's PhysicalSizeX in microns.
    """
    page = tif.pages[0]
    props: dict[str, str] = {"tifffile.format": "ome" if tif.is_ome else "tiff"}
    if page.description:
        props["tiff.ImageDescription"] = page.description
    tags = page.tags
    if "XResolution" in tags and "ResolutionUnit" in tags:
        num, den = tags["XResolution"].value
        unit = _RESUNIT_NAMES.get(int(tags["ResolutionUnit"].value))
        if unit and den:
            props["tiff.XResolution"] = repr(num / den)
            props["tiff.ResolutionUnit"] = unit
    if tif.is_ome and tif.ome_metadata:
        props.update(_ome_mpp(tif.ome_metadata))
    return props


def _is_ome(path: Path) -> bool:
    import tifffile

    try:
        with quiet_tifffile(), tifffile.TiffFile(str(path)) as tif:
            return bool(tif.is_ome)
    except Exception:  # noqa: BLE001 - then OpenSlide's reading of it stands
        return False


def _ome_properties(path: Path) -> dict[str, str]:
    import tifffile

    try:
        with quiet_tifffile(), tifffile.TiffFile(str(path)) as tif:
            return _ome_mpp(tif.ome_metadata) if tif.is_ome and tif.ome_metadata else {}
    except Exception:  # noqa: BLE001 - optional metadata; OpenSlide already opened the file
        return {}


def _ome_mpp(xml: str) -> dict[str, str]:
    """``ome.mpp-x``/``ome.mpp-y`` in microns from OME-XML's first Pixels element."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return {}
    out = {}
    for axis in ("X", "Y"):
        value = pixels.get(f"PhysicalSize{axis}")
        factor = _OME_UNITS_UM.get(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        try:
            if value is not None and factor is not None:
                out[f"ome.mpp-{axis.lower()}"] = repr(float(value) * factor)
        except ValueError:
            continue
    return out


# --------------------------------------------------------------------------- diagnosis


def is_tiff(path: Path) -> bool:
    """Whether the file starts with a TIFF or BigTIFF header."""
    with open(path, "rb") as handle:
        return handle.read(4) in _TIFF_MAGIC


def is_dicom(path: Path) -> bool:
    """Whether the file has the DICOM preamble (``DICM`` at byte 128)."""
    with open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def truncated_reason(size: int, needed: int) -> str:
    """The message for a file that ends before its own structure says it should."""
    return (f"truncated: the file has {size:,} bytes but its contents reach byte {needed:,}; "
            "the download or copy did not finish, fetch it again (featx fetch resumes and "
            "verifies checksums)")


def diagnose(path: str | Path) -> str:
    """Why no reader opens ``path``: missing, empty, truncated, unsupported or damaged.

    Returns
    -------
    str
        One sentence naming the problem and the fix (without the path).
    """
    path = Path(path)
    if path.is_dir():
        return ("a folder without DICOM (.dcm) files; pass the slide file itself (a folder "
                "is a slide only when it holds one DICOM WSI)")
    if not path.is_file():
        return "no such file; check the path (and the manifest's slide folder)"
    size = path.stat().st_size
    if size == 0:
        return ("the file is empty (0 bytes): the download or copy did not finish; "
                "fetch it again")
    if is_tiff(path):
        return _diagnose_tiff(path, size)
    if is_dicom(path):
        return ("a DICOM file that is not a whole-slide image featx can read (it needs VL "
                "Whole Slide Microscopy Image instances with TotalPixelMatrix sizes)")
    return ("not a slide format featx reads (OpenSlide's formats, TIFF/OME-TIFF, DICOM WSI) "
            f"and not a TIFF at all; {_CONVERT_HINT}")


def _first_ifd_offset(path: Path) -> int:
    """Where the TIFF header says the first directory is (0 when it cannot say)."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    order = "<" if head[:2] == b"II" else ">"
    if head[2:4] in (b"*\x00", b"\x00*"):  # classic TIFF: 4-byte offset at byte 4
        return int.from_bytes(head[4:8], "little" if order == "<" else "big")
    return int.from_bytes(head[8:16], "little" if order == "<" else "big")  # BigTIFF


@contextlib.contextmanager
def quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log warnings: featx says what is wrong in its own error."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _diagnose_tiff(path: Path, size: int) -> str:
    import tifffile

    first = _first_ifd_offset(path)
    if first >= size:  # scanners often write the directories last: the cut took them
        return truncated_reason(size, first)
    try:
        with quiet_tifffile(), tifffile.TiffFile(str(path)) as tif:
            pages = [level.keyframe for level in _pyramid(tif)]
            end = max((o + c for p in pages for o, c in zip(p.dataoffsets, p.databytecounts)),
                      default=0)
    except Exception as error:  # noqa: BLE001 - any parse failure of a TIFF header
        return (f"a TIFF whose structure cannot be parsed ({type(error).__name__}: "
                f"{str(error)[:120]}): probably truncated or damaged; fetch it again")
    if end > size:
        return truncated_reason(size, end)
    return f"an intact TIFF that neither OpenSlide nor tifffile can read as a slide; {_CONVERT_HINT}"


def open_reader(path: Path) -> Reader:
    """Open ``path`` with the first reader of :data:`READERS` that can.

    Raises
    ------
    SlideError
        No reader can; the message says whether the file is empty, truncated,
        unsupported, or intact but in a layout featx cannot read.
    """
    import openslide

    from featx.wsi.dicom import DicomReader, is_dicom_source

    vendor = openslide.OpenSlide.detect_format(str(path)) if path.is_file() else None
    if vendor == "generic-tiff" and _is_ome(path):
        vendor = None  # OpenSlide sees one level of an OME pyramid (SubIFDs); tifffile all
    if vendor is not None:
        try:
            return OpenSlideReader(path)
        except openslide.OpenSlideError:
            pass  # tifffile or pydicom may still read it; otherwise diagnose() says why
    if is_dicom_source(path):
        return DicomReader(path)
    if path.is_file() and is_tiff(path):
        try:
            return TiffReader(path)
        except SlideError:
            raise
        except Exception as error:  # noqa: BLE001 - tifffile's parse errors, then diagnosis
            raise SlideError(path, diagnose(path)) from error
    raise SlideError(path, diagnose(path))
