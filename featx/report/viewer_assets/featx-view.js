// featx view: one slide in OpenSeadragon with its overlay layers, a colour bar, a scale bar
// in microns, a navigator and the value under the pointer. Configured by the JSON block
// #featx-config that the server writes (featx/report/viewer_pages.py). The page's state
// goes on <html> as data-* attributes so a headless browser can check it.
// #at=X,Y in the URL opens the slide at full resolution at (X, Y), fractions of its width
// and height (a link to a place on the slide).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("featx-config").textContent);
  var root = document.documentElement, $ = function (id) { return document.getElementById(id); };
  var state = {loaded: 0, maxLevel: -1, items: {}, grids: {}, layer: null, slide: null};
  root.dataset.viewerReady = "false";
  root.dataset.overlayVisible = "false";
  root.dataset.overlayLayer = "";
  root.dataset.tilesLoaded = "0";
  root.dataset.maxLevel = "-1";

  var viewer = OpenSeadragon({
    element: $("view"), tileSources: cfg.dzi, showNavigationControl: false,
    showNavigator: true, navigatorPosition: "TOP_RIGHT", maxZoomPixelRatio: 2,
    crossOriginPolicy: false, immediateRender: false, drawer: "canvas"
  });
  viewer.addHandler("tile-loaded", function (e) {
    if (e.tiledImage !== state.slide) { return; }
    root.dataset.tilesLoaded = String(++state.loaded);
    if (e.tile.level > state.maxLevel) { root.dataset.maxLevel = String(state.maxLevel = e.tile.level); }
  });

  var select = $("layer"), show = $("show"), opacity = $("opacity");
  cfg.layers.forEach(function (layer, i) {
    var option = document.createElement("option");
    option.value = String(i);
    option.textContent = layer.legend.label;
    select.appendChild(option);
  });
  if (!cfg.layers.length) { show.disabled = true; select.style.display = "none"; }

  function layerItem(i, done) {  // each layer's image is added once, when first shown
    if (state.items[i]) { done(state.items[i]); return; }
    viewer.addTiledImage({
      tileSource: {type: "image", url: cfg.layers[i].png}, x: 0, y: 0, width: 1, opacity: 0,
      success: function (e) { state.items[i] = e.item; done(e.item); }
    });
    fetch(cfg.layers[i].values).then(function (r) { return r.json(); })
      .then(function (grid) { state.grids[i] = grid; });
  }

  function apply(after) {
    var on = show.checked && cfg.layers.length > 0, current = Number(select.value || 0);
    Object.keys(state.items).forEach(function (k) {
      state.items[k].setOpacity(on && Number(k) === current ? Number(opacity.value) : 0);
    });
    root.dataset.overlayVisible = String(on);
    root.dataset.overlayLayer = on ? cfg.layers[current].name : "";
    drawLegend(on ? cfg.layers[current].legend : null);
    if (on && !state.items[current]) { layerItem(current, function () { apply(after); }); return; }
    if (after) { after(); }
  }

  function drawLegend(legend) {
    var box = $("legend");
    box.innerHTML = "";
    if (!legend) { return; }
    if (legend.kind === "continuous") {
      box.innerHTML = "<span>0</span><span class='ramp' style='background:linear-gradient(to right," +
        legend.stops.join(",") + ")'></span><span>1</span>";
    } else {
      legend.swatches.forEach(function (s) {
        box.insertAdjacentHTML("beforeend", "<span class='sw' style='background:" + s[1] +
          "'></span><span>" + s[0] + "</span>");
      });
    }
    box.title = legend.label;
  }

  function step(delta) {
    if (!cfg.layers.length) { return; }
    select.value = String((Number(select.value) + delta + cfg.layers.length) % cfg.layers.length);
    apply();
  }

  show.addEventListener("change", function () { apply(); });
  select.addEventListener("change", function () { apply(); });
  opacity.addEventListener("input", function () { apply(); });
  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.tagName === "SELECT") { return; }
    if (e.code === "Space" || e.key === " ") { e.preventDefault(); show.checked = !show.checked; apply(); }
    if (e.key === "]") { step(1); }
    if (e.key === "[") { step(-1); }
  });

  function scaleBar() {  // a round number of microns, about 120 screen pixels long
    if (!state.slide) { return; }
    var a = state.slide.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    var b = state.slide.imageToViewerElementCoordinates(new OpenSeadragon.Point(1000, 0));
    var umPerPx = cfg.mpp * 1000 / Math.max(b.x - a.x, 1e-9), want = 120 * umPerPx;
    var nice = Math.pow(10, Math.floor(Math.log10(want)));
    nice = want >= 5 * nice ? 5 * nice : want >= 2 * nice ? 2 * nice : nice;
    $("scalebar").firstChild.style.width = (nice / umPerPx).toFixed(1) + "px";
    $("scalebar").lastChild.textContent = nice >= 1000 ? (nice / 1000) + " mm" : nice + " µm";
  }
  viewer.addHandler("update-viewport", scaleBar);

  new OpenSeadragon.MouseTracker({element: viewer.canvas, moveHandler: function (e) {
    if (!state.slide) { return; }
    var p = state.slide.viewerElementToImageCoordinates(e.position);
    var text = (p.x * cfg.mpp).toFixed(0) + ", " + (p.y * cfg.mpp).toFixed(0) + " µm";
    var i = Number(select.value || 0), grid = state.grids[i];
    if (show.checked && grid) {
      var col = Math.floor(p.x / grid.stride), row = Math.floor(p.y / grid.stride);
      var inside = col >= 0 && row >= 0 && col < grid.cols && row < grid.rows &&
        p.x - col * grid.stride < grid.extent && p.y - row * grid.stride < grid.extent;
      var value = inside ? grid.values[row * grid.cols + col] : null;
      if (value !== null && value !== undefined) { text += "; " + grid.label + " " + value; }
    }
    $("readout").textContent = text;
  }});

  function hashOption(name) {
    var match = new RegExp("[#&]" + name + "=([^&]*)").exec(location.hash);
    return match ? match[1] : null;
  }

  viewer.addHandler("open", function () {
    state.slide = viewer.world.getItemAt(0);
    var at = hashOption("at");
    if (at !== null) {
      var xy = at.split(",").map(Number);
      var centre = state.slide.imageToViewportCoordinates(xy[0] * cfg.width, xy[1] * cfg.height);
      viewer.viewport.zoomTo(state.slide.imageToViewportZoom(1), null, true);
      viewer.viewport.panTo(centre, true);
    }
    show.checked = cfg.layers.length > 0;
    apply(function () { root.dataset.viewerReady = "true"; });
    scaleBar();
  });
})();
