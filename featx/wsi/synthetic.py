"""Write realistic test slides whose right answers are known.

:func:`write_synthetic_slide` writes a pyramidal, JPEG-tiled TIFF (Aperio-style
by default, so OpenSlide reads it as it reads a scanner's .svs) with H&E-like
tissue in known regions at a known mpp. The tissue is rendered by Beer-Lambert
from a known stain matrix, so stain normalisation has a ground truth too.

The texture is a function of physical position (microns), evaluated at each
pixel centre, so every pyramid level shows the same tissue and a slide of any
size is written tile by tile in bounded memory. Users can import this for their
own tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from featx._io import atomic_path
from featx._validate import one_of, positive_float, positive_int
from featx.errors import InvalidParameterError
from featx.wsi.annotations import MASK_LABELS, NORMAL, TUMOUR


def _unit_rows(matrix: list[list[float]]) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


#: Optical-density directions of haematoxylin (row 0) and eosin (row 1), unit rows
#: (Ruifrok & Johnston's H&E vectors): the stain of normal tissue.
HE_STAIN_MATRIX = _unit_rows([[0.650, 0.704, 0.286], [0.072, 0.990, 0.105]])
#: A bluer haematoxylin and pinker eosin: tumour regions stain differently.
TUMOUR_STAIN_MATRIX = _unit_rows([[0.560, 0.760, 0.330], [0.150, 0.950, 0.270]])

FORMATS = ("aperio", "tiff", "tiff-no-mpp")

# Texture of each tissue kind, in microns: cell spacing, nucleus radius, chance a
# cell shows a nucleus, nucleus haematoxylin, background stain concentrations.
_TEXTURE = {
    NORMAL: dict(cell_um=14.0, radius_um=3.0, p_nucleus=0.5, nucleus_h=0.9, h=0.08, e=0.55),
    TUMOUR: dict(cell_um=10.0, radius_um=3.6, p_nucleus=0.85, nucleus_h=1.2, h=0.2, e=0.42),
}
_GLASS_OD = 0.035


@dataclass(frozen=True)
class Region:
    """A piece of tissue, in level-0 pixels.

    Parameters
    ----------
    x, y : int
        Top-left corner of the bounding box.
    width, height : int
        Size of the bounding box.
    shape : {"ellipse", "rect"}
        The region fills the ellipse inscribed in the box, or the whole box.
    label : {"normal", "tumour"}
        Tissue kind; tumour has denser, larger nuclei and a different stain.
        Later regions paint over earlier ones.
    """

    x: int
    y: int
    width: int
    height: int
    shape: str = "ellipse"
    label: str = "normal"

    def __post_init__(self) -> None:
        one_of("shape", self.shape, ("ellipse", "rect"))
        one_of("label", self.label, ("normal", "tumour"))
        positive_int("width", self.width)
        positive_int("height", self.height)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean mask of which level-0 points (x, y) lie inside the region."""
        if self.shape == "rect":
            return (x >= self.x) & (x < self.x + self.width) & (y >= self.y) & (y < self.y + self.height)
        cx, cy = self.x + self.width / 2, self.y + self.height / 2
        return ((x - cx) / (self.width / 2)) ** 2 + ((y - cy) / (self.height / 2)) ** 2 <= 1.0

    def area_px(self) -> float:
        """Area in level-0 pixels squared."""
        full = float(self.width * self.height)
        return full if self.shape == "rect" else math.pi / 4 * full


def default_regions(width_px: int, height_px: int) -> list[Region]:
    """A normal ellipse on the left and a tumour ellipse on the right."""
    return [
        Region(int(0.08 * width_px), int(0.15 * height_px), int(0.45 * width_px),
               int(0.7 * height_px), "ellipse", "normal"),
        Region(int(0.58 * width_px), int(0.25 * height_px), int(0.34 * width_px),
               int(0.5 * height_px), "ellipse", "tumour"),
    ]


@dataclass(frozen=True)
class SyntheticSlide:
    """A generated slide and its ground truth.

    Attributes
    ----------
    path : Path
    width_px, height_px : int
        Level-0 size.
    slide_mpp : float
        Microns per level-0 pixel (also what the file records, unless ``fmt`` is
        ``"tiff-no-mpp"``).
    regions : tuple of Region
    fmt : str
    seed : int
    grain : bool
        Pixel-level grain over glass and tissue; without it, glass is one flat colour
        and a tile of bare glass is written without rendering (fast for huge slides).
    """

    path: Path
    width_px: int
    height_px: int
    slide_mpp: float
    regions: tuple[Region, ...] = field(default_factory=tuple)
    fmt: str = "aperio"
    seed: int = 0
    grain: bool = True

    def label_mask(self, downsample: float = 1.0) -> np.ndarray:
        """Labels (0 background, 1 normal, 2 tumour) on a grid of ``downsample`` level-0 px."""
        ds = positive_float("downsample", downsample)
        h, w = math.ceil(self.height_px / ds), math.ceil(self.width_px / ds)
        ys, xs = (np.arange(h) + 0.5) * ds, (np.arange(w) + 0.5) * ds
        return _labels(self.regions, xs[None, :], ys[:, None])

    def tissue_mask(self, downsample: float = 1.0) -> np.ndarray:
        """True where there is tissue, on a grid of ``downsample`` level-0 px."""
        return self.label_mask(downsample) > 0


def _labels(regions: Sequence[Region], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    labels = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.uint8)
    for region in regions:
        labels[region.contains(x, y)] = MASK_LABELS[region.label]
    return labels


def _hash_uniform(ix: np.ndarray, iy: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Deterministic uniform [0, 1) numbers from integer coordinates (splitmix64)."""
    with np.errstate(over="ignore"):
        h = (ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             ^ iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
             ^ np.uint64((seed * 1_000_003 + salt) & 0xFFFFFFFF) * np.uint64(0x165667B19E3779F9))
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def render_region(slide: SyntheticSlide, x0: float, y0: float, width: int, height: int,
                  downsample: float = 1.0) -> np.ndarray:
    """Render uint8 RGB pixels of a synthetic slide.

    Parameters
    ----------
    slide : SyntheticSlide
        Layout, mpp and seed.
    x0, y0 : float
        Top-left corner in level-0 pixels.
    width, height : int
        Output size in pixels.
    downsample : float
        Level-0 pixels per output pixel.
    """
    if not slide.grain and not _touches_tissue(slide, x0, y0, width * downsample,
                                               height * downsample):
        return np.broadcast_to(_flat_glass(), (height, width, 3)).copy()
    xs = x0 + (np.arange(width) + 0.5) * downsample
    ys = y0 + (np.arange(height) + 0.5) * downsample
    x, y = np.meshgrid(xs, ys)
    labels = _labels(slide.regions, x, y)
    od = np.full((height, width, 3), _GLASS_OD)
    um_x, um_y = x * slide.slide_mpp, y * slide.slide_mpp
    for label, stains in ((NORMAL, HE_STAIN_MATRIX), (TUMOUR, TUMOUR_STAIN_MATRIX)):
        inside = labels == label
        if inside.any():
            h, e = _concentrations(um_x[inside], um_y[inside], _TEXTURE[label], slide.seed)
            od[inside] = h[:, None] * stains[0] + e[:, None] * stains[1]
    if slide.grain:  # pixel-level grain, a function of position at this resolution
        grain = _hash_uniform(np.floor(x / downsample), np.floor(y / downsample), slide.seed, 7)
        od *= 0.94 + 0.12 * grain[..., None]
    return np.clip(255.0 * np.exp(-od) + 0.5, 0, 255).astype(np.uint8)


def _flat_glass() -> np.ndarray:
    """The colour of bare glass without grain, as one uint8 RGB pixel."""
    return np.clip(255.0 * np.exp(-np.full(3, _GLASS_OD)) + 0.5, 0, 255).astype(np.uint8)


def _touches_tissue(slide: SyntheticSlide, x0: float, y0: float, width: float,
                    height: float) -> bool:
    """Whether a level-0 rectangle meets any region's bounding box."""
    return any(r.x < x0 + width and x0 < r.x + r.width and r.y < y0 + height
               and y0 < r.y + r.height for r in slide.regions)


def _concentrations(um_x: np.ndarray, um_y: np.ndarray, texture: dict[str, float],
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Haematoxylin and eosin concentrations at physical positions (microns)."""
    cell = texture["cell_um"]
    ix, iy = np.floor(um_x / cell), np.floor(um_y / cell)
    # One candidate nucleus per cell, jittered inside it (radius stays inside the cell).
    slack = cell - 2 * texture["radius_um"]
    cx = (ix * cell + texture["radius_um"] + slack * _hash_uniform(ix, iy, seed, 1))
    cy = (iy * cell + texture["radius_um"] + slack * _hash_uniform(ix, iy, seed, 2))
    present = _hash_uniform(ix, iy, seed, 3) < texture["p_nucleus"]
    dist = np.hypot(um_x - cx, um_y - cy) / texture["radius_um"]
    nucleus = present * np.clip(3.0 * (1.0 - dist), 0.0, 1.0)  # disc with a soft rim
    # Slow waves in the stroma, wavelengths of tens to hundreds of microns.
    waves = (np.sin(um_x / 37.0 + seed) + np.sin(um_y / 53.0 - seed)
             + np.sin((um_x + um_y) / 131.0)) / 3.0
    h = texture["h"] * (1.0 + 0.2 * waves) + texture["nucleus_h"] * nucleus
    e = texture["e"] * (1.0 + 0.25 * waves) * (1.0 - 0.5 * nucleus)
    return h, e


def write_synthetic_slide(
    path: str | Path,
    *,
    width_px: int = 4096,
    height_px: int = 3072,
    slide_mpp: float = 0.5,
    regions: Sequence[Region] | None = None,
    fmt: str = "aperio",
    downsamples: Sequence[int] = (1, 4, 16),
    tile_px: int = 256,
    jpeg_quality: int = 90,
    seed: int = 0,
    grain: bool = True,
) -> SyntheticSlide:
    """Write a pyramidal JPEG-tiled TIFF slide with H&E-like tissue at known places.

    Parameters
    ----------
    path : str or Path
        Output file (``.svs`` or ``.tiff``).
    width_px, height_px : int
        Level-0 size.
    slide_mpp : float
        Microns per level-0 pixel.
    regions : sequence of Region, optional
        Tissue layout in level-0 pixels; default :func:`default_regions`.
        An empty sequence gives a slide of bare glass.
    fmt : {"aperio", "tiff", "tiff-no-mpp"}
        ``"aperio"``: Aperio ImageDescription with ``MPP`` (OpenSlide vendor aperio).
        ``"tiff"``: generic tiled TIFF with resolution tags in centimetres.
        ``"tiff-no-mpp"``: generic tiled TIFF recording no resolution.
    downsamples : sequence of int
        Pyramid levels; levels smaller than one tile are dropped.
    tile_px : int
        TIFF tile size (a multiple of 16).
    jpeg_quality : int
        JPEG quality of the tiles.
    seed : int
        Seed of the texture.
    grain : bool, default True
        Pixel-level grain. ``False`` leaves glass one flat colour, so tiles of bare
        glass cost no rendering: a 100,000-pixel slide is written in minutes.

    Returns
    -------
    SyntheticSlide
    """
    import tifffile

    width_px, height_px = positive_int("width_px", width_px), positive_int("height_px", height_px)
    slide_mpp = positive_float("slide_mpp", slide_mpp)
    one_of("fmt", fmt, FORMATS)
    if positive_int("tile_px", tile_px) % 16:
        raise InvalidParameterError("tile_px", "a multiple of 16", tile_px)
    if not downsamples or downsamples[0] != 1:
        raise InvalidParameterError("downsamples", "a sequence starting with 1", downsamples)
    regions = tuple(default_regions(width_px, height_px) if regions is None else regions)
    slide = SyntheticSlide(Path(path), width_px, height_px, slide_mpp, regions, fmt, seed, grain)
    levels = [d for d in downsamples if d == 1 or min(width_px, height_px) / d >= tile_px]

    # Atomically, so an interrupted run never leaves a half-written slide behind.
    with atomic_path(slide.path) as tmp, tifffile.TiffWriter(
            tmp, bigtiff=width_px * height_px > 2**31) as tif:
        for ds in levels:
            w, h = math.ceil(width_px / ds), math.ceil(height_px / ds)
            tif.write(
                _tiles(slide, w, h, ds, tile_px), shape=(h, w, 3), dtype=np.uint8,
                tile=(tile_px, tile_px), photometric="rgb", compression="jpeg",
                compressionargs={"level": jpeg_quality},
                subfiletype=0 if ds == 1 else 1,
                description=_description(slide, w, h, tile_px, jpeg_quality, ds),
                metadata=None, **_resolution(fmt, slide_mpp * ds),
            )
    return slide


def _tiles(slide: SyntheticSlide, w: int, h: int, ds: float, tile_px: int) -> Iterator[np.ndarray]:
    for ty in range(0, h, tile_px):
        for tx in range(0, w, tile_px):
            yield render_region(slide, tx * ds, ty * ds, tile_px, tile_px, ds)


def _description(slide: SyntheticSlide, w: int, h: int, tile_px: int, quality: int,
                 ds: float) -> str | None:
    if slide.fmt != "aperio":
        return None
    head = (f"Aperio Image Library v12.0.0\r\n{slide.width_px}x{slide.height_px} "
            f"[0,0 {slide.width_px}x{slide.height_px}] ({tile_px}x{tile_px})")
    if ds != 1:
        head += f" -> {w}x{h}"
    return (f"{head} JPEG/RGB Q={quality}|AppMag = {10.0 / slide.slide_mpp:g}|MPP = {slide.slide_mpp:.4f}"
            f"|Filename = {slide.path.stem}|featx synthetic seed = {slide.seed}")


def _resolution(fmt: str, mpp: float) -> dict[str, object]:
    if fmt == "tiff":
        return {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"}
    return {"resolution": None, "resolutionunit": None} if fmt == "tiff-no-mpp" else {}
