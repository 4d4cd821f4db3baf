/* The OGC API pages' map: the features of the page's GeoJSON (data-url), drawn with the
   app's own Leaflet; a feature's id is shown as text (never as HTML). */
(function () {
  "use strict";
  var el = document.getElementById("ogc-map");
  if (!el || !window.L) { return; }
  var map = L.map(el);
  map.setView([30.0, 120.5], 9);
  fetch(el.getAttribute("data-url"), {credentials: "same-origin", headers: {Accept: "application/geo+json"}})
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var layer = L.geoJSON(data, {
        style: {color: "#3182bd", weight: 1, fillOpacity: 0.3},
        onEachFeature: function (f, l) {
          var label = document.createElement("span");
          label.textContent = String(f.id);
          l.bindTooltip(label, {sticky: true});
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds); }
    });
})();
