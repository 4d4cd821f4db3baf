/* mujun map helpers: data layers whose popups and tooltips arrive as HTML already escaped
   on the server, and a parcel layer loaded by bounding box as the map moves. */
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

  function bboxLayer(map, url, opts) {
    opts = opts || {};
    var layer = dataLayer(null, opts);
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
            note.textContent = data.numberMatched > data.numberReturned
              ? "本视图共 " + data.numberMatched + " 宗地块，已显示 " + data.numberReturned + " 宗；请放大查看全部"
              : "本视图 " + data.numberReturned + " 宗地块";
          }
          map.fire("mujun:parcelsloaded", {count: data.numberReturned});
        })
        .catch(function (e) { if (e.name !== "AbortError" && note) { note.textContent = "地块加载失败"; } });
    }
    map.on("moveend", refresh);
    layer.on("add", refresh);
    return layer;
  }

  window.mujun = {dataLayer: dataLayer, bboxLayer: bboxLayer};
})();
