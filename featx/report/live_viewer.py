"""``featx view``: a local slide viewer that cuts DeepZoom tiles on the fly, with overlays.

The static viewers beside a report stop at :data:`featx.report.viewer.MAX_DEEPZOOM_TILES`
and need OpenSlide; this server reads any slide featx reads (OpenSlide formats,
OME-TIFF, plain TIFF, DICOM) at full size through :class:`featx.wsi.deepzoom.DeepZoom`,
one tile per request. Over a slide it lays the layers :mod:`featx.report.overlays`
builds from ``featx slidescore``'s outputs and a store's embedding clusters.

What it promises:

- **Only what it was given.** Slides are addressed by their ID, looked up in the
  table made at start from the given files and folders; no part of a URL is ever
  joined to a path, and anything else answers 404 (``/dz/../../etc/passwd`` too).
- **Flat memory.** At most ``max_open_slides`` slides are open; encoded tiles are
  cached up to ``tile_cache_mb``; a tile is read in bounded chunks
  (:func:`featx.wsi.deepzoom.read_scaled`); overlays are cached per slide in an
  LRU of :data:`LAYER_CACHE` slides.
- **A client may leave.** A browser that drops a connection mid-tile (it does so
  whenever the user pans on) costs nothing but that write; the server goes on.
- **127.0.0.1 unless told otherwise**, so a slide is not served to the network
  by accident.

:class:`SlideViewer` answers a path without sockets (the tests call it directly);
:func:`serve` binds it to a port.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import numpy as np
import pandas as pd

from featx.errors import DataNotFoundError, FeatxError, InvalidParameterError
from featx.report.overlays import (
    OverlayLayer,
    cluster_layer,
    heatmap_layer,
    probability_layer,
)
from featx.wsi.deepzoom import DeepZoom
from featx.wsi.slide import Slide, default_slide_id, find_slides, open_slide

#: The port ``featx view`` takes unless told otherwise (the report's pages look for it).
DEFAULT_PORT = 8765
#: Slides whose overlays are kept in memory at once.
LAYER_CACHE = 8
#: Files of ``featx.report/viewer_assets`` served under ``/asset/``.
ASSETS = {"openseadragon.min.js": "text/javascript", "featx-view.js": "text/javascript",
          "OPENSEADRAGON-LICENSE.txt": "text/plain; charset=utf-8"}
#: A 1x1 transparent GIF: the answer to ``/probe/<id>.gif`` for a slide this server has.
PROBE_GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000"
                          "010001000002024401003b")


@dataclass(frozen=True)
class Response:
    """What the server sends: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def viewer_slides(paths: Iterable[str | Path]) -> dict[str, Path]:
    """The slides below the given files and folders, by slide ID.

    A folder gives its slide files (:func:`featx.wsi.slide.find_slides`) and each of its
    sub-folders holding DICOM files (one DICOM slide is a folder of instances); a file
    is one slide. An ID given twice keeps the first.
    """
    from featx.wsi.dicom import is_dicom_file

    slides: dict[str, Path] = {}
    for item in paths:
        path = Path(item).expanduser().resolve()
        if path.is_file():
            found = {default_slide_id(path): path}
        elif path.is_dir():
            found = find_slides(path)
            for folder in sorted({p.parent for p in path.rglob("*.dcm")}):
                if any(is_dicom_file(p) for p in folder.glob("*.dcm")):
                    found.setdefault(folder.name, folder)
        else:
            raise DataNotFoundError(f"slide or folder {path}", "Pass slide files or folders "
                                    "holding them.")
        for slide_id, slide_path in found.items():
            slides.setdefault(slide_id, slide_path)
    if not slides:
        raise DataNotFoundError(f"slides in {[str(p) for p in paths]}",
                                "Pass folders holding .svs, .tif, .ndpi, .mrxs... files or DICOM "
                                "folders.")
    return slides


@dataclass(frozen=True)
class ViewerSources:
    """What ``featx view`` shows.

    Attributes
    ----------
    slides : mapping of slide ID to path
        From :func:`viewer_slides`.
    slidescores : Path, optional
        A ``featx slidescore`` folder: scores on the slide list, probability and
        heatmap overlays.
    store : Path, optional
        A store, for the embedding-cluster overlay.
    extractor : str, optional
        Whose embeddings to cluster (default: the store's first extractor).
    n_clusters : int
    slide_mpp : float, optional
        Level-0 microns per pixel for slides whose metadata lacks it.
    """

    slides: Mapping[str, Path]
    slidescores: Path | None = None
    store: Path | None = None
    extractor: str | None = None
    n_clusters: int = 8
    slide_mpp: float | None = None


class _OpenSlide:
    """One open slide, its pyramid and the lock its reads take."""

    def __init__(self, slide: Slide) -> None:
        self.slide, self.deepzoom, self.lock, self.closed = slide, DeepZoom(slide), \
            threading.Lock(), False

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.slide.close()


class SlideViewer:
    """The viewer's answers, by URL path (no sockets: :func:`serve` adds them).

    Parameters
    ----------
    sources : ViewerSources
    max_open_slides : int, default 4
    tile_cache_mb : float, default 32
        Encoded tiles kept for revisits.
    quality : int, default 85
        JPEG quality of the tiles.
    """

    def __init__(self, sources: ViewerSources, *, max_open_slides: int = 4,
                 tile_cache_mb: float = 32.0, quality: int = 85) -> None:
        self.sources = sources
        self.max_open_slides, self.quality = max_open_slides, quality
        self._tile_budget = int(tile_cache_mb * 2**20)
        self._open: OrderedDict[str, _OpenSlide] = OrderedDict()
        self._tiles: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._tile_bytes = 0
        self._layers: OrderedDict[str, dict[str, OverlayLayer]] = OrderedDict()
        self._clusters: Any = None
        self._lock = threading.Lock()
        self._routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(r"/"), self._index),
            (re.compile(r"/slide/([^/]+)"), self._page),
            (re.compile(r"/dz/([^/]+)/(\d+)/(\d+)_(\d+)\.jpeg"), self._tile),
            (re.compile(r"/overlay/([^/]+)/([a-z]+)\.png"), self._overlay_png),
            (re.compile(r"/values/([^/]+)/([a-z]+)\.json"), self._overlay_values),
            (re.compile(r"/asset/([^/]+)"), self._asset),
            (re.compile(r"/probe/([^/]+)\.gif"), self._probe),
        ]

    # -- routing --------------------------------------------------------------------
    def respond(self, raw_path: str) -> Response:
        """The answer to a GET of ``raw_path`` (its query string is ignored)."""
        path = urlsplit(raw_path).path
        for pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match:
                try:
                    return handler(*(unquote(g) for g in match.groups()))
                except (FeatxError, OSError) as error:  # an unknown slide, tile or layer
                    return _text(404, f"{error}")
                except Exception as error:  # noqa: BLE001 - one line, and the server goes on
                    return _text(500, f"featx view: unexpected {type(error).__name__}: "
                                 f"{error}. This is a featx bug: please report it.")
        return _text(404, "not found")

    # -- slides ---------------------------------------------------------------------
    def _slide(self, slide_id: str) -> _OpenSlide:
        if slide_id not in self.sources.slides:
            raise InvalidParameterError("slide", "a slide of this viewer", slide_id)
        with self._lock:
            if slide_id in self._open:
                self._open.move_to_end(slide_id)
                return self._open[slide_id]
        opened = _OpenSlide(open_slide(self.sources.slides[slide_id],
                                       slide_mpp=self.sources.slide_mpp, slide_id=slide_id))
        with self._lock:
            if slide_id in self._open:  # another request opened it meanwhile
                opened.close()
                return self._open[slide_id]
            self._open[slide_id] = opened
            evicted = [self._open.popitem(last=False)[1]
                       for _ in range(max(0, len(self._open) - self.max_open_slides))]
        for old in evicted:
            old.close()
        return opened

    def _read_tile(self, slide_id: str, level: int, col: int, row: int) -> np.ndarray:
        while True:
            opened = self._slide(slide_id)
            with opened.lock:
                if not opened.closed:  # evicted between the lookup and the lock: reopen
                    return opened.deepzoom.tile(level, col, row)

    def _tile(self, slide_id: str, level: str, col: str, row: str) -> Response:
        from PIL import Image

        key = (slide_id, int(level), int(col), int(row))
        with self._lock:
            body = self._tiles.get(key)
            if body is not None:
                self._tiles.move_to_end(key)
        if body is None:
            buffer = io.BytesIO()
            Image.fromarray(self._read_tile(*key)).save(buffer, format="JPEG",
                                                       quality=self.quality)
            body = buffer.getvalue()
            with self._lock:
                if key not in self._tiles:
                    self._tiles[key] = body
                    self._tile_bytes += len(body)
                while self._tile_bytes > self._tile_budget and self._tiles:
                    self._tile_bytes -= len(self._tiles.popitem(last=False)[1])
        return Response(200, "image/jpeg", body, {"Cache-Control": "max-age=3600"})

    # -- overlays -------------------------------------------------------------------
    def layers(self, slide_id: str) -> dict[str, OverlayLayer]:
        """The overlays of a slide, by name (built once, kept for :data:`LAYER_CACHE` slides)."""
        with self._lock:
            if slide_id in self._layers:
                self._layers.move_to_end(slide_id)
                return self._layers[slide_id]
        built = {layer.name: layer for layer in self._build_layers(slide_id)}
        with self._lock:
            self._layers[slide_id] = built
            while len(self._layers) > LAYER_CACHE:
                self._layers.popitem(last=False)
        return built

    def _build_layers(self, slide_id: str) -> list[OverlayLayer]:
        layers = []
        folder = self.sources.slidescores
        if folder is not None and (folder / "tile_probabilities.parquet").is_file():
            tiles = pd.read_parquet(folder / "tile_probabilities.parquet",
                                    filters=[("slide_id", "=", slide_id)])
            if len(tiles):
                layers.append(probability_layer(tiles))
                if (folder / "heatmaps.npz").is_file():
                    with np.load(folder / "heatmaps.npz") as grids:
                        if slide_id in grids:
                            layers.append(heatmap_layer(tiles, grids[slide_id]))
        if self.sources.store is not None:
            layers += self._cluster_layers(slide_id)
        return layers

    def _cluster_layers(self, slide_id: str) -> list[OverlayLayer]:
        from featx.embed.clusters import fit_tile_clusters, slide_tile_clusters
        from featx.embed.store import list_extractors, list_slides

        store = self.sources.store
        extractor = self.sources.extractor or next(iter(list_extractors(store)), None)
        if extractor is None:
            return []
        stored = set(list_slides(store, extractor=extractor))
        if slide_id not in stored:
            return []
        with self._lock:  # one fit for the whole viewer, on its slides in the store
            if self._clusters is None:
                mine = [s for s in self.sources.slides if s in stored]
                self._clusters = fit_tile_clusters(store, extractor=extractor, slide_ids=mine,
                                                   n_clusters=self.sources.n_clusters)
        tiles = slide_tile_clusters(store, self._clusters, extractor=extractor, slide_id=slide_id)
        return [cluster_layer(tiles, n_clusters=self._clusters.n_clusters, extractor=extractor)]

    def _layer(self, slide_id: str, name: str) -> tuple[OverlayLayer, Slide]:
        layer = self.layers(slide_id).get(name)
        if layer is None:
            raise InvalidParameterError("overlay", f"one of {sorted(self.layers(slide_id))}",
                                        name)
        return layer, self._slide(slide_id).slide

    def _overlay_png(self, slide_id: str, name: str) -> Response:
        layer, slide = self._layer(slide_id, name)
        return Response(200, "image/png", layer.png((slide.info.width, slide.info.height),
                                                    slide.info.level_downsamples))

    def _overlay_values(self, slide_id: str, name: str) -> Response:
        layer, slide = self._layer(slide_id, name)
        return _json(layer.grid(slide.info.level_downsamples))

    # -- pages ----------------------------------------------------------------------
    def _index(self) -> Response:
        from featx.report.viewer_pages import index_page

        return _html(index_page(self._slide_rows(), self._scores()))

    def _slide_rows(self) -> list[dict[str, Any]]:
        rows = []
        for slide_id in self.sources.slides:
            try:
                info = self._slide(slide_id).slide.info
            except (FeatxError, OSError) as error:
                rows.append({"slide_id": slide_id, "error": str(error)})
                continue
            rows.append({"slide_id": slide_id, "url": f"/slide/{quote(slide_id, safe='')}",
                         "size": f"{info.width:,} x {info.height:,}",
                         "mpp": f"{info.slide_mpp:.4g}", "reader": info.vendor or info.reader})
        return rows

    def _scores(self) -> pd.DataFrame | None:
        from featx._io import read_table

        folder = self.sources.slidescores
        path = None if folder is None else folder / "slide_scores.csv"
        if path is None or not path.is_file():
            return None
        return read_table(path, what="slide scores", dtype={"slide_id": str})

    def _page(self, slide_id: str) -> Response:
        from featx.report.viewer_pages import slide_page

        opened = self._slide(slide_id)
        quoted = quote(slide_id, safe="")
        layers = [{"name": name, "png": f"/overlay/{quoted}/{name}.png",
                   "values": f"/values/{quoted}/{name}.json", "legend": layer.legend()}
                  for name, layer in self.layers(slide_id).items()]
        config = {"slideId": slide_id, "mpp": opened.slide.info.slide_mpp,
                  "width": opened.slide.info.width, "height": opened.slide.info.height,
                  "dzi": opened.deepzoom.descriptor(f"/dz/{quoted}/"), "layers": layers}
        return _html(slide_page(slide_id, config))

    def _asset(self, name: str) -> Response:
        if name not in ASSETS:
            return _text(404, "not found")
        body = resources.files("featx.report").joinpath("viewer_assets", name).read_bytes()
        return Response(200, ASSETS[name], body, {"Cache-Control": "max-age=3600"})

    def _probe(self, slide_id: str) -> Response:
        if slide_id not in self.sources.slides:
            return _text(404, "not found")
        return Response(200, "image/gif", PROBE_GIF, {"Cache-Control": "no-store"})

    def close(self) -> None:
        """Close every open slide."""
        with self._lock:
            opened, self._open = list(self._open.values()), OrderedDict()
        for item in opened:
            item.close()


def _text(status: int, text: str) -> Response:
    return Response(status, "text/plain; charset=utf-8", text.encode())


def _html(page: str) -> Response:
    return Response(200, "text/html; charset=utf-8", page.encode())


def _json(value: Any) -> Response:
    return Response(200, "application/json", json.dumps(value).encode())


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    protocol_version = "HTTP/1.1"  # keep-alive: a page's tiles come over a few connections

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._send(self.server.viewer.respond(self.path), body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(self.server.viewer.respond(self.path), body=False)

    def _send(self, response: Response, *, body: bool) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client left (it panned on): nothing to do

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass  # a line per tile would drown the terminal


class ViewerServer(ThreadingHTTPServer):
    """:class:`SlideViewer` on a socket; one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, viewer: SlideViewer, host: str, port: int) -> None:
        self.viewer = viewer
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """Where a browser finds the slide list."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return  # a client that disconnected mid-request
        print(f"featx view: {type(error).__name__}: {error}", file=sys.stderr)


def serve(sources: ViewerSources, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          **options: Any) -> ViewerServer:
    """A bound (not yet serving) viewer server; call ``serve_forever()`` on it.

    ``port=0`` takes a free port (see ``ViewerServer.url``).
    """
    return ViewerServer(SlideViewer(sources, **options), host, port)


__all__ = ["DEFAULT_PORT", "Response", "SlideViewer", "ViewerServer", "ViewerSources", "serve",
           "viewer_slides"]
