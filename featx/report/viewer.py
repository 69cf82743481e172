"""A zoomable slide viewer with the tumour-probability overlay, as static files beside a report.

OpenSlide's DeepZoom generator cuts the slide into a DeepZoom pyramid; OpenSeadragon
(shipped with featx, BSD licence, in ``viewer_assets/``) shows it with pan and zoom
at full resolution. The tile probabilities are painted, each over its own level-0
footprint, into one transparent PNG laid over the slide. The space bar toggles the
overlay, a slider sets its opacity, and a colour bar gives the scale. The page needs
no server: the pyramid's description is inlined (browsers refuse XHR on file://) and
tiles load as images. Opened from disk while ``featx view`` runs on this machine
(:data:`~featx.report.live_viewer.DEFAULT_PORT`) with the same slide, the page moves to
the live viewer, which has every layer; ``#static`` in the URL keeps it here.

The page records its state on ``<html>`` (``data-viewer-ready``, ``data-overlay-visible``,
``data-tiles-loaded``) so a headless browser can wait for it.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from featx.errors import DataError
from featx.report.live_viewer import DEFAULT_PORT

#: Where the viewer's JavaScript goes inside a report folder.
ASSET_DIR = "viewer"
#: Largest side of the overlay image; finer than a tile is never needed.
OVERLAY_MAX_PX = 2048
#: Pyramids with more tiles than this are not written beside a report (use a tile server).
MAX_DEEPZOOM_TILES = 20000


def viewer_files(slide_path: str | Path, tiles: pd.DataFrame, slide_id: str, *,
                 prob_column: str = "prob", tile_size: int = 254,
                 quality: int = 85, live_port: int = DEFAULT_PORT) -> dict[str, bytes]:
    """Every file of one slide's viewer, by path relative to the report folder.

    Parameters
    ----------
    slide_path : str or Path
        The slide file (any format OpenSlide reads).
    tiles : pandas.DataFrame
        The slide's tiles: x, y (level 0), level, read_px and ``prob_column``.
    slide_id : str
    prob_column : str
    tile_size, quality : int
        DeepZoom tile side and JPEG quality.
    live_port : int
        Where the page looks for ``featx view`` on this machine: when it runs and has
        this slide, the page opens the slide there (``#static`` in the URL stays here).

    Returns
    -------
    dict of str to bytes
        ``viewer-<id>.html``, ``viewer-<id>/overlay.png``, the DeepZoom tiles and the
        OpenSeadragon script.

    Raises
    ------
    DataError
        The pyramid would exceed :data:`MAX_DEEPZOOM_TILES` tiles, a column is missing, or
        OpenSlide cannot open the file (featx reads some formats without OpenSlide).
    """
    import openslide
    from openslide.deepzoom import DeepZoomGenerator

    missing = {"x", "y", "level", "read_px", prob_column} - set(tiles.columns)
    if missing:
        raise DataError("tile probabilities", f"no columns {sorted(missing)}",
                        "Pass the tile_probabilities table featx slidescore reads")
    stem = f"viewer-{safe_name(slide_id)}"
    files: dict[str, bytes] = {}
    try:
        handle = openslide.OpenSlide(str(slide_path))
    except (openslide.OpenSlideError, OSError) as error:  # featx's other readers have no DeepZoom
        raise DataError(f"slide {slide_id}", f"OpenSlide cannot open it ({error})",
                        "The static viewer needs a format OpenSlide reads; open this one in "
                        "QuPath") from None
    with handle as slide:
        pyramid = DeepZoomGenerator(slide, tile_size=tile_size, overlap=1, limit_bounds=False)
        if pyramid.tile_count > MAX_DEEPZOOM_TILES:
            raise DataError(f"slide {slide_id}", f"{pyramid.tile_count} DeepZoom tiles",
                            f"Static viewers stop at {MAX_DEEPZOOM_TILES}; view large slides "
                            "with a tile server")
        width, height = slide.dimensions
        for level in range(pyramid.level_count):
            columns, rows = pyramid.level_tiles[level]
            for col in range(columns):
                for row in range(rows):
                    image = pyramid.get_tile(level, (col, row)).convert("RGB")
                    buffer = io.BytesIO()
                    image.save(buffer, format="JPEG", quality=quality)
                    files[f"{stem}/tiles/{level}/{col}_{row}.jpeg"] = buffer.getvalue()
        downsamples = slide.level_downsamples
    files[f"{stem}/overlay.png"] = overlay_png(tiles, (width, height), downsamples,
                                               prob_column=prob_column)
    source = {"Image": {"xmlns": "http://schemas.microsoft.com/deepzoom/2008",
                        "Url": f"{stem}/tiles/", "Format": "jpeg", "Overlap": "1",
                        "TileSize": str(tile_size),
                        "Size": {"Width": str(width), "Height": str(height)}}}
    files[f"{stem}.html"] = _page(slide_id, source, f"{stem}/overlay.png", live_port).encode()
    script = resources.files("featx.report").joinpath("viewer_assets", "openseadragon.min.js")
    files[f"{ASSET_DIR}/openseadragon.min.js"] = script.read_bytes()
    licence = resources.files("featx.report").joinpath("viewer_assets",
                                                       "OPENSEADRAGON-LICENSE.txt")
    files[f"{ASSET_DIR}/OPENSEADRAGON-LICENSE.txt"] = licence.read_bytes()
    return files


def overlay_png(tiles: pd.DataFrame, size: tuple[int, int], level_downsamples: Sequence[float],
                *, prob_column: str = "prob", cmap: str = "inferno") -> bytes:
    """Tile probabilities as a transparent RGBA PNG covering the slide (no tissue: clear)."""
    import matplotlib
    from PIL import Image

    width, height = size
    scale = max(width, height) / OVERLAY_MAX_PX if max(width, height) > OVERLAY_MAX_PX else 1.0
    canvas = np.zeros((max(1, round(height / scale)), max(1, round(width / scale)), 4), np.uint8)
    colours = (matplotlib.colormaps[cmap](np.clip(tiles[prob_column].to_numpy(float), 0, 1))
               * 255).round().astype(np.uint8)
    for (x, y, level, read_px), colour in zip(
            tiles[["x", "y", "level", "read_px"]].itertuples(index=False), colours):
        side = read_px * level_downsamples[int(level)] / scale  # level-0 footprint, scaled
        x0, y0 = int(round(x / scale)), int(round(y / scale))
        canvas[y0:y0 + max(1, int(round(side))), x0:x0 + max(1, int(round(side)))] = colour
    buffer = io.BytesIO()
    Image.fromarray(canvas, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def safe_name(name: str) -> str:
    """A slide ID as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def _colour_stops(cmap: str = "inferno", n: int = 11) -> str:
    import matplotlib

    colours = matplotlib.colormaps[cmap](np.linspace(0, 1, n))
    return ",".join(f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)}) {i * 100 / (n - 1):.0f}%"
                    for i, (r, g, b, _) in enumerate(colours))


_PAGE = """<!doctype html><html lang='en'><head><meta charset='utf-8'>
<title>{title}</title><style>
html,body{{margin:0;height:100%;font-family:system-ui,sans-serif}}
#view{{position:absolute;inset:0 0 3.2em 0;background:#222}}
#bar{{position:absolute;left:0;right:0;bottom:0;height:3.2em;display:flex;align-items:center;
gap:1.2em;padding:0 1em;background:#f4f4f4;font-size:.9em}}
#scale{{width:220px;height:14px;background:linear-gradient(to right,{stops});border:1px solid #555}}
</style><script src='{asset}/openseadragon.min.js'></script></head><body>
<div id='view'></div>
<div id='bar'><b>{title}</b>
<label><input type='checkbox' id='show' checked> overlay (space bar)</label>
<label>opacity <input type='range' id='opacity' min='0' max='1' step='0.05' value='0.5'></label>
<span>0</span><span id='scale' title='tumour probability'></span><span>1 tumour probability</span>
</div><script>
var root=document.documentElement,overlay=null,loaded=0;
root.dataset.viewerReady='false';root.dataset.overlayVisible='true';root.dataset.tilesLoaded='0';
var viewer=OpenSeadragon({{element:document.getElementById('view'),tileSources:{source},
  showNavigationControl:false,maxZoomPixelRatio:2,crossOriginPolicy:false}});
viewer.addHandler('tile-loaded',function(){{root.dataset.tilesLoaded=String(++loaded);}});
viewer.addHandler('open',function(){{
  viewer.addTiledImage({{tileSource:{{type:'image',url:'{overlay}'}},x:0,y:0,width:1,opacity:0.5,
    success:function(e){{overlay=e.item;root.dataset.viewerReady='true';}}}});
}});
function apply(){{var on=document.getElementById('show').checked;
  root.dataset.overlayVisible=String(on);
  if(overlay)overlay.setOpacity(on?parseFloat(document.getElementById('opacity').value):0);}}
document.getElementById('show').addEventListener('change',apply);
document.getElementById('opacity').addEventListener('input',apply);
document.addEventListener('keydown',function(e){{if(e.code==='Space'||e.key===' '){{
  e.preventDefault();var box=document.getElementById('show');box.checked=!box.checked;apply();}}}});
if(location.protocol==='file:'&&location.hash!=='#static'){{
  var probe=new Image();probe.onload=function(){{location.replace('{live}/slide/{quoted}');}};
  probe.src='{live}/probe/{quoted}.gif?'+Date.now();}}
</script></body></html>
"""


def _page(slide_id: str, source: dict, overlay: str, live_port: int) -> str:
    from urllib.parse import quote

    return _PAGE.format(title=html.escape(f"{slide_id}: tumour probability"),
                        stops=_colour_stops(), asset=ASSET_DIR, source=json.dumps(source),
                        overlay=html.escape(overlay), live=f"http://127.0.0.1:{int(live_port)}",
                        quoted=quote(slide_id, safe=""))
