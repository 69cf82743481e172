"""DICOM whole-slide images (VL Whole Slide Microscopy), read frame by frame with pydicom.

OpenSlide reads DICOM WSI only when every instance carries an ImageType it can
classify; many exporters leave it out. This reader needs only what places the
frames: ``TotalPixelMatrixColumns/Rows``, the frame size (``Columns``, ``Rows``)
and either ``DimensionOrganizationType = TILED_FULL`` (frames in row-major order)
or, per frame, ``PlanePositionSlideSequence`` (TILED_SPARSE). The pixel spacing
comes from the shared functional groups' ``PixelMeasuresSequence`` (millimetres);
without it the slide records no mpp and :func:`featx.wsi.slide.open_slide` asks
for ``--slide-mpp``.

A pyramid is the instances of one ``SeriesInstanceUID`` in the file's folder
(or in a folder passed as the slide), largest first. Only the frames a region
needs are read and decoded, so memory stays bounded however large the slide.
The ``dicom`` extra installs pydicom.

pydicom's own warnings about a header that is not quite standard (an invalid UID, a
malformed number) are caught while the header is read and said once per file, in
featx's words, naming the file; a spacing that is not a pair of positive numbers is
treated as missing (the slide then asks for ``--slide-mpp``), never as a crash.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from featx.errors import SlideError
from featx.wsi._cache import DecodedCache

_WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
_ITEM, _SEQ_END = 0xE000FFFE, 0xE0DDFFFE  # (FFFE,E000), (FFFE,E0DD) as little-endian uint32
_UNCOMPRESSED = {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
_JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.70",
         "1.2.840.10008.1.2.4.57"}
_JPEG2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
             "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
_SKIP_TYPES = {"LABEL", "OVERVIEW", "THUMBNAIL"}


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a file with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom_source(path: Path) -> bool:
    """Whether ``path`` is a DICOM file or a folder holding ``.dcm`` files."""
    if path.is_dir():
        return any(path.glob("*.dcm"))
    return is_dicom_file(path)


@dataclass
class _Instance:
    path: Path
    width: int
    height: int
    frame_w: int
    frame_h: int
    samples: int
    syntax: str
    photometric: str
    positions: dict[tuple[int, int], int]  # (col, row) of a frame's top-left -> frame index
    frames: list[tuple[int, int]]  # (file offset, byte length) of each frame
    spacing_mm: tuple[float, float] | None
    series: str


def _require_pydicom(path: Path) -> Any:
    try:
        import pydicom
    except ImportError:
        raise SlideError(path, "a DICOM file: reading DICOM whole-slide images needs pydicom; "
                         "install it with `pip install featx[dicom]`") from None
    return pydicom


def _number(ds: Any, name: str, path: Path) -> int:
    value = ds.get(name)
    if value is None:
        raise SlideError(path, f"a DICOM file without {name}, so not a tiled whole-slide image "
                         "featx can place frames of")
    return int(value)


def _spacing(ds: Any, path: Path) -> tuple[float, float] | None:
    for group in ds.get("SharedFunctionalGroupsSequence", []):
        for measures in group.get("PixelMeasuresSequence", []):
            spacing = measures.get("PixelSpacing")
            if spacing is None:
                continue
            try:
                values = [float(s) for s in spacing]
            except (TypeError, ValueError):
                values = []
            if len(values) == 2 and all(v > 0 for v in values):
                return values[0], values[1]
            warnings.warn(f"{path.name}: its DICOM PixelSpacing ({spacing!r}) is not two "
                          "positive numbers, so its microns per pixel are unknown; pass "
                          "--slide-mpp (slide_mpp=) with the scanner's value", UserWarning,
                          stacklevel=2)
    return None


def _read_header(pydicom: Any, handle: BinaryIO, path: Path) -> tuple[Any, list[str]]:
    """The dataset without pixels, and pydicom's warnings about it (said once, by the caller)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
        except Exception as error:  # noqa: BLE001 - pydicom's parse errors
            raise SlideError(path, f"a DICOM file that cannot be parsed ({error}); probably "
                             "truncated or damaged, fetch it again") from error
        for element in ds.iterall():  # values are validated (and warned about) on access
            _ = element.value
    return ds, list(dict.fromkeys(str(w.message).split(". Please see")[0] for w in caught))


def _positions(ds: Any, path: Path, width: int, frame_w: int, frame_h: int,
               n_frames: int) -> dict[tuple[int, int], int]:
    if str(ds.get("DimensionOrganizationType", "TILED_FULL")).upper() != "TILED_SPARSE":
        across = math.ceil(width / frame_w)
        return {((i % across) * frame_w, (i // across) * frame_h): i for i in range(n_frames)}
    out = {}
    for i, group in enumerate(ds.get("PerFrameFunctionalGroupsSequence", [])):
        plane = group.get("PlanePositionSlideSequence", [None])[0]
        if plane is None:
            raise SlideError(path, f"a TILED_SPARSE DICOM whose frame {i} has no "
                             "PlanePositionSlideSequence, so it cannot be placed")
        out[(int(plane.ColumnPositionInTotalImagePixelMatrix) - 1,
             int(plane.RowPositionInTotalImagePixelMatrix) - 1)] = i
    return out


def _read_instance(path: Path) -> _Instance | None:
    """The instance's geometry and frame offsets; None for labels, overviews and non-WSI."""
    pydicom = _require_pydicom(path)
    with open(path, "rb") as handle:
        ds, issues = _read_header(pydicom, handle, path)
        if issues:
            warnings.warn(f"{path.name}: its DICOM header is not quite standard ("
                          f"{len(issues)} issue{'s' * (len(issues) != 1)}, e.g. {issues[0]}); "
                          "featx reads it anyway", UserWarning, stacklevel=2)
        image_type = ds.get("ImageType", [])
        image_type = {str(t).upper() for t in ([image_type] if isinstance(image_type, str)
                                                else image_type)}
        if image_type & _SKIP_TYPES or ds.get("SOPClassUID", _WSI_SOP_CLASS) != _WSI_SOP_CLASS:
            return None
        width = _number(ds, "TotalPixelMatrixColumns", path)
        height = _number(ds, "TotalPixelMatrixRows", path)
        frame_w, frame_h = _number(ds, "Columns", path), _number(ds, "Rows", path)
        n_frames = int(ds.get("NumberOfFrames", 1))
        samples = int(ds.get("SamplesPerPixel", 1))
        syntax = str(ds.file_meta.TransferSyntaxUID)
        if int(ds.get("BitsAllocated", 8)) != 8:
            raise SlideError(path, f"a DICOM WSI with {ds.BitsAllocated}-bit pixels; featx "
                             "reads 8-bit RGB or grey")
        frames = _frame_offsets(handle, path, syntax, n_frames, frame_w * frame_h * samples)
    return _Instance(path, width, height, frame_w, frame_h, samples, syntax,
                     str(ds.get("PhotometricInterpretation", "RGB")),
                     _positions(ds, path, width, frame_w, frame_h, n_frames), frames,
                     _spacing(ds, path), str(ds.get("SeriesInstanceUID", "")))


def _frame_offsets(handle: BinaryIO, path: Path, syntax: str, n_frames: int,
                   frame_bytes: int) -> list[tuple[int, int]]:
    """Where each frame's bytes are, read from the item headers (no pixel data loaded)."""
    size = Path(path).stat().st_size
    header = handle.read(12)  # tag, VR, 2 reserved, 4-byte length (explicit VR little endian)
    if len(header) < 12:
        raise SlideError(path, f"truncated: the DICOM file ({size:,} bytes) ends before its "
                         "pixel data; fetch it again")
    length = struct.unpack("<I", header[8:12])[0]
    start = handle.tell()
    if syntax in _UNCOMPRESSED:
        frames = [(start + i * frame_bytes, frame_bytes) for i in range(n_frames)]
    else:
        fragments = []
        while True:
            item = handle.read(8)
            if len(item) < 8:
                raise SlideError(path, f"truncated: the DICOM file ({size:,} bytes) ends inside "
                                 "its pixel data; fetch it again")
            tag, item_len = struct.unpack("<II", item)
            if tag == _SEQ_END:
                break
            if tag != _ITEM:
                raise SlideError(path, "a DICOM file whose encapsulated pixel data is damaged")
            fragments.append((handle.tell(), item_len))
            handle.seek(item_len, io.SEEK_CUR)
        frames = fragments[1:]  # the first item is the basic offset table
        if len(frames) != n_frames:
            raise SlideError(path, f"a DICOM WSI with {len(frames)} fragments for {n_frames} "
                             "frames; featx reads one fragment per frame")
    if length != 0xFFFFFFFF and start + length > size or any(o + n > size for o, n in frames):
        raise SlideError(path, f"truncated: the DICOM file has {size:,} bytes, fewer than its "
                         "frames need; fetch it again")
    return frames


class DicomReader:
    """A DICOM WSI: one instance per pyramid level, frames decoded on demand (byte-bounded LRU)."""

    name = "dicom"

    def __init__(self, path: Path) -> None:
        files = sorted(path.glob("*.dcm")) if path.is_dir() else [path]
        instances = [i for i in (_read_instance(f) for f in files) if i is not None]
        if not path.is_dir() and instances:
            # The other levels of this pyramid are its series' siblings in the folder.
            for sibling in sorted(path.parent.glob("*.dcm")):
                if sibling != path and is_dicom_file(sibling):
                    other = _read_instance(sibling)
                    if other is not None and other.series == instances[0].series:
                        instances.append(other)
        if not instances:
            raise SlideError(path, "DICOM files without a whole-slide image (only labels, "
                             "overviews or other kinds of image)")
        instances.sort(key=lambda i: -i.width)
        self.path = path
        self._levels = instances
        self.level_dimensions = tuple((i.width, i.height) for i in instances)
        self.level_downsamples = tuple(instances[0].width / i.width for i in instances)
        self.properties = {"dicom.series": instances[0].series}
        if instances[0].spacing_mm is not None:
            row_mm, col_mm = instances[0].spacing_mm
            self.properties.update({"dicom.mpp-x": repr(col_mm * 1000.0),
                                    "dicom.mpp-y": repr(row_mm * 1000.0)})
        self._cache = DecodedCache()

    def read(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """uint8 RGB (height, width, 3); areas outside the image or without a frame are white."""
        inst = self._levels[level]
        ds = self.level_downsamples[level]
        lx, ly = math.floor(x / ds), math.floor(y / ds)
        out = np.full((height, width, 3), 255, np.uint8)
        fw, fh = inst.frame_w, inst.frame_h
        for top in range(max(ly, 0) // fh * fh, min(ly + height, inst.height), fh):
            for left in range(max(lx, 0) // fw * fw, min(lx + width, inst.width), fw):
                index = inst.positions.get((left, top))
                if index is None:
                    continue  # sparse tiling leaves glass unstored
                frame = self._frame(level, index)
                ya, yb = max(ly, top), min(ly + height, top + fh, inst.height)
                xa, xb = max(lx, left), min(lx + width, left + fw, inst.width)
                out[ya - ly:yb - ly, xa - lx:xb - lx] = frame[ya - top:yb - top,
                                                              xa - left:xb - left]
        return out

    def _frame(self, level: int, index: int) -> np.ndarray:
        key = (level, index)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        inst = self._levels[level]
        offset, length = inst.frames[index]
        with open(inst.path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        frame = _decode(inst, data)
        self._cache.put(key, frame)
        return frame

    def close(self) -> None:
        """Drop the decoded frames (files are opened per read)."""
        self._cache.clear()


def _decode(inst: _Instance, data: bytes) -> np.ndarray:
    try:
        if inst.syntax in _UNCOMPRESSED:
            pixels = np.frombuffer(data, np.uint8).reshape(inst.frame_h, inst.frame_w,
                                                           inst.samples)
        elif inst.syntax in _JPEG:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                pixels = np.asarray(image.convert("RGB" if inst.samples == 3 else "L"))
        elif inst.syntax in _JPEG2000:
            import imagecodecs

            pixels = imagecodecs.jpeg2k_decode(data)  # YBR_ICT/RCT come back as RGB
        else:
            raise SlideError(inst.path, f"a DICOM WSI in transfer syntax {inst.syntax}, which "
                             "featx does not decode (it reads uncompressed, JPEG and JPEG 2000)")
    except SlideError:
        raise
    except Exception as error:  # noqa: BLE001 - codecs raise their own types
        raise SlideError(inst.path, f"a DICOM frame cannot be decoded ({error}); the file is "
                         "damaged, fetch it again") from error
    pixels = np.asarray(pixels, np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return pixels[: inst.frame_h, : inst.frame_w, :3]
