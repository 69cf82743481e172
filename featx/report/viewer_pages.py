"""The HTML of ``featx view``: the slide list with scores, and one slide's viewer page.

The viewer page is OpenSeadragon (shipped in ``viewer_assets/``) driven by
``viewer_assets/featx-view.js``, configured by a JSON block the server fills in: the
pyramid, the slide's microns per pixel and its overlay layers. The page records its
state on ``<html>`` (``data-viewer-ready``, ``data-overlay-visible``,
``data-overlay-layer``, ``data-tiles-loaded``, ``data-max-level``) so a headless
browser can check it.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

_STYLE = """html,body{margin:0;font-family:system-ui,sans-serif;font-size:14px}
table{border-collapse:collapse;margin:1em}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}.err{color:#a00}h1{font-size:1.3em;margin:1em}"""


def index_page(rows: list[dict[str, Any]], scores: pd.DataFrame | None) -> str:
    """The list of slides, linked to their viewers, with their scores when there are any."""
    score_columns: list[str] = []
    by_slide: dict[str, dict[str, Any]] = {}
    if scores is not None and "slide_id" in scores.columns:
        score_columns = [c for c in scores.columns if c.endswith("_score") or c == "label"]
        by_slide = scores.set_index(scores["slide_id"].astype(str))[score_columns].to_dict("index")
        first = next((c for c in score_columns if c.endswith("_score")), None)
        if first is not None:  # highest score first, slides without a score last
            rows = sorted(rows, key=lambda r: -float(by_slide.get(r["slide_id"], {}).get(
                first, float("-inf"))))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in
                   ["slide", "level-0 size (px)", "µm per pixel", "read by", *score_columns])
    body = []
    for row in rows:
        name = html.escape(row["slide_id"])
        cells = [f"<a href='{html.escape(row['url'])}'>{name}</a>" if "url" in row else name]
        if "error" in row:
            cells.append(f"<span class='err'>{html.escape(row['error'])}</span>")
        else:
            cells += [row["size"], row["mpp"], html.escape(str(row["reader"]))]
            values = by_slide.get(row["slide_id"], {})
            cells += [_number(values.get(c)) for c in score_columns]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>featx view"
            f"</title><style>{_STYLE}</style></head><body><h1>featx view: {len(rows)} slides"
            f"</h1><table><tr>{head}</tr>{''.join(body)}</table></body></html>")


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


_PAGE = """<!doctype html><html lang='en'><head><meta charset='utf-8'>
<title>{title}</title><style>
html,body{{margin:0;height:100%;font-family:system-ui,sans-serif;font-size:13px}}
#view{{position:absolute;inset:0 0 3.4em 0;background:#222}}
#bar{{position:absolute;left:0;right:0;bottom:0;height:3.4em;display:flex;align-items:center;
gap:1em;padding:0 1em;background:#f4f4f4;white-space:nowrap;overflow:hidden}}
#legend{{display:flex;align-items:center;gap:.3em}}
#legend .ramp{{width:160px;height:12px;border:1px solid #555}}
#legend .sw{{display:inline-block;width:12px;height:12px;border:1px solid #555}}
#scalebar{{position:absolute;left:1em;bottom:4.2em;font-size:12px;padding:2px 5px;
background:rgba(255,255,255,.85);border-radius:3px}}
#scalebar div{{height:5px;border:2px solid #000;border-top:none}}
#readout{{min-width:18em;font-variant-numeric:tabular-nums}}
</style><script src='/asset/openseadragon.min.js'></script></head><body>
<div id='view'></div><div id='scalebar'><div></div><span></span></div>
<div id='bar'><a href='/'>slides</a><b>{title}</b>
<label><input type='checkbox' id='show'> overlay (space bar)</label>
<select id='layer' title='[ and ] step through the layers'></select>
<label>opacity <input type='range' id='opacity' min='0' max='1' step='0.05' value='0.5'></label>
<span id='legend'></span><span id='readout'></span></div>
<script type='application/json' id='featx-config'>{config}</script>
<script src='/asset/featx-view.js'></script></body></html>
"""


def slide_page(slide_id: str, config: dict[str, Any]) -> str:
    """One slide's viewer page; ``config`` is what ``featx-view.js`` reads."""
    text = json.dumps(config).replace("</", "<\\/")  # never closes the script block
    return _PAGE.format(title=html.escape(slide_id), config=text)


__all__ = ["index_page", "slide_page"]
