/* mujun map helpers: data layers whose popups and tooltips arrive as HTML already escaped
   on the server, a parcel layer loaded by bounding box as the map moves, and parcels as
   PNG tiles rendered by the server below the zoom where the bounding-box layer draws them.
   Every text a user sees comes from the server (the layers' options): none is written here. */
(function () {
  "use strict";

  function styleOf(feature, opts) {
    var p = feature.properties || {};
    return {
      color: p._stroke || opts.stroke || "#555",
      weight: opts.weight === undefined ? 1 : opts.weight,
      fillColor: p._color || opts.fill || "#3388ff",
      fillOpacity: opts.fillOpacity === undefined ? 0.6 : opts.fillOpacity,
      opacity: 0.9,
      dashArray: opts.dashArray || null
    };
  }

  function bind(feature, layer) {
    var p = feature.properties || {};
    if (p._popup) { layer.bindPopup(p._popup, {maxWidth: 360}); }
    if (p._tooltip) { layer.bindTooltip(p._tooltip, {sticky: true}); }
    if (p._id) { layer.feature.id = p._id; }
  }

  function dataLayer(geojson, opts) {
    opts = opts || {};
    return L.geoJSON(geojson, {
      style: function (f) { return styleOf(f, opts); },
      onEachFeature: bind
    });
  }

  /* opts.texts holds the notes shown under the map, written by the server ({name} filled in). */
  function bboxLayer(map, url, opts) {
    opts = opts || {};
    var layer = dataLayer(null, opts);
    function text(key, values) {
      return ((opts.texts || {})[key] || "").replace(/\{(\w+)\}/g, function (m, name) {
        return values[name] === undefined ? m : String(values[name]);
      });
    }
    var note = document.getElementById(opts.noteId || "");
    var pending = null;
    function refresh() {
      if (!map.hasLayer(layer)) { return; }
      if (map.getZoom() < (opts.minZoom || 0)) {
        layer.clearLayers();
        if (note) { note.textContent = opts.zoomHint || ""; }
        return;
      }
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); });
      var sep = url.indexOf("?") >= 0 ? "&" : "?";
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(url + sep + "bbox=" + bbox.join(",") + "&page_size=" + (opts.limit || 2000), {signal: pending.signal})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          layer.clearLayers();
          layer.addData(data);
          if (note) {
            note.textContent = text(data.numberMatched > data.numberReturned ? "partial" : "all",
                                    {matched: data.numberMatched, returned: data.numberReturned});
          }
          map.fire("mujun:parcelsloaded", {count: data.numberReturned});
        })
        .catch(function (e) { if (e.name !== "AbortError" && note) { note.textContent = text("failed", {}); } });
    }
    map.on("moveend", refresh);
    layer.on("add", refresh);
    return layer;
  }

  /* Tiles of `url` ({z}/{x}/{y}) shown while `vector` is on the map and the zoom is below
     opts.vectorZoom; a click there asks opts.identifyUrl for the parcel and opens its popup
     (escaped on the server, as the vector layer's). Call after the map's other layers are
     registered in window.mujunLayers. */
  function parcelTiles(map, vector, url, opts) {
    opts = opts || {};
    var tiles = L.tileLayer(url, {tileSize: 256, maxZoom: 22, className: "mujun-parcel-tiles", attribution: ""});
    var asked = null;
    function update() {
      var want = map.hasLayer(vector) && map.getZoom() < (opts.vectorZoom || 0);
      if (want && !map.hasLayer(tiles)) { tiles.addTo(map); }
      if (!want && map.hasLayer(tiles)) { map.removeLayer(tiles); }
    }
    function identify(e) {
      if (!map.hasLayer(tiles)) { return; }
      var sep = opts.identifyUrl.indexOf("?") >= 0 ? "&" : "?";
      if (asked) { asked.abort(); }
      asked = new AbortController();
      fetch(opts.identifyUrl + sep + "lon=" + e.latlng.lng.toFixed(7) + "&lat=" + e.latlng.lat.toFixed(7),
            {signal: asked.signal})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.popup) {
            L.popup({maxWidth: 360}).setLatLng(e.latlng).setContent(data.popup).openOn(map);
            map.fire("mujun:identified", {parcelId: data.parcel_id});
          }
        })
        .catch(function () { return null; });
    }
    tiles.on("load", function () { map.fire("mujun:tilesloaded"); });
    map.on("zoomend", update);
    map.on("click", identify);
    // a click on an outline layer drawn above the tiles (districts, parks) never reaches the
    // map: ask there too, the parcel's popup then replaces the outline's
    Object.keys(window.mujunLayers || {}).forEach(function (name) {
      var layer = window.mujunLayers[name];
      if (layer !== vector) { layer.on("click", identify); }
    });
    vector.on("add remove", update);
    update();
    return tiles;
  }

  window.mujun = {dataLayer: dataLayer, bboxLayer: bboxLayer, parcelTiles: parcelTiles};
})();
