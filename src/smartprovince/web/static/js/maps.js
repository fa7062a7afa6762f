/* SP.map(el, opts) — the one way pages make a Leaflet map (bản đồ dùng chung).
 *
 * The tile layer is added only when the platform has a tile server (setting
 * SMARTPROVINCE_MAP_TILE_URL, passed by layout.html as data-tile-url on this script tag). On a
 * closed government network there is none: the map then draws the district outlines from
 * /api/v1/areas?level=district so that it still shows where things are.
 *
 * Leaflet itself (vendor/leaflet/leaflet.js) is loaded by the page that has a map, after this file;
 * SP.map only needs it when it is called.
 *
 * opts (all optional):
 *   center: [lat, lng], zoom: n   initial view (default: fit the province outline)
 *   outlines: true                draw the district outlines even when tiles are configured
 *   drill: true                   clicking a district draws its communes and zooms to it (drill-down)
 *   onArea: fn(properties, map)   called when a district or commune outline is clicked
 *   tileUrl: "…"                  override the platform's tile URL ("" = none)
 *   attribution: "…"              tile attribution (default © OpenStreetMap for OSM URLs)
 *   leaflet: {…}                  extra options for L.map
 *   onOutlines: fn(layer, map)    called once the outlines are drawn
 *
 * The returned map has map.spOutlines: a Promise of the outline layer (null when not drawn),
 * map.spDrill(districtId) (draw that district's communes, zoom to them; a Promise of the layer) and
 * map.spShowProvince() (remove the communes, zoom back to the province).
 * SP.areas(query) fetches /api/v1/areas?… once per query (e.g. "level=commune&parent=ID").
 */
(function () {
  "use strict";
  var SP = window.SP = window.SP || {};
  var script = document.currentScript || document.getElementById("sp-maps");
  SP.mapTileUrl = (script && script.getAttribute("data-tile-url")) || "";

  var cache = {};
  SP.areas = function (query) {
    var key = query || "level=district";
    if (!cache[key]) {
      cache[key] = fetch("/api/v1/areas?" + key, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) {
          if (!r.ok) { throw new Error("areas: HTTP " + r.status); }
          return r.json();
        })
        .catch(function (err) { delete cache[key]; throw err; });
    }
    return cache[key];
  };

  // Label style of the outlines (kept here so every page that has a map gets it).
  if (!document.getElementById("sp-maps-style")) {
    var style = document.createElement("style");
    style.id = "sp-maps-style";
    style.textContent = ".leaflet-container.sp-map-no-tiles{background:#f4f7f9}" +
      ".leaflet-tooltip.sp-area-label{background:transparent;border:0;box-shadow:none;color:#34495e;" +
      "font-size:11px;font-weight:600;text-shadow:0 0 3px #fff,0 0 3px #fff}" +
      ".leaflet-tooltip.sp-area-label:before{display:none}";
    document.head.appendChild(style);
  }

  SP.outlineStyle = {color: "#4a6378", weight: 1.2, opacity: 0.9, fillColor: "#dfe8ef", fillOpacity: 0.35};
  SP.communeStyle = {color: "#7f8c8d", weight: 0.8, opacity: 0.9, fillColor: "#ffffff", fillOpacity: 0.15};

  SP.map = function (el, opts) {
    opts = opts || {};
    if (typeof el === "string") { el = document.getElementById(el); }
    var L = window.L;
    if (!L) { throw new Error("SP.map needs Leaflet: load vendor/leaflet/leaflet.js first"); }
    var options = {zoomSnap: 0.25};  // fit the province closely; pages may override
    var extra = opts.leaflet || {};
    Object.keys(extra).forEach(function (k) { options[k] = extra[k]; });
    var map = L.map(el, options);
    var tileUrl = opts.tileUrl !== undefined ? opts.tileUrl : SP.mapTileUrl;
    var hasView = false;
    if (opts.center) { map.setView(opts.center, opts.zoom || 11); hasView = true; }
    if (tileUrl) {
      var attribution = opts.attribution;
      if (attribution === undefined) {
        attribution = /openstreetmap/i.test(tileUrl) ? "© OpenStreetMap contributors" : "";
      }
      L.tileLayer(tileUrl, {maxZoom: 19, attribution: attribution}).addTo(map);
    }
    // Until the outline arrives (or when it cannot be fetched): the whole country.
    if (!hasView) { map.setView([16.0, 106.0], 5); }
    map.spOutlines = Promise.resolve(null);
    var communes = null;
    map.spShowProvince = function () {
      if (communes) { map.removeLayer(communes); communes = null; }
      return map.spOutlines.then(function (layer) {
        if (layer) { map.fitBounds(layer.getBounds(), {padding: [8, 8]}); }
        return layer;
      });
    };
    map.spDrill = function (districtId) {
      return SP.areas("level=commune&parent=" + encodeURIComponent(districtId)).then(function (data) {
        if (communes) { map.removeLayer(communes); }
        communes = L.geoJSON(data, {
          style: function () { return SP.communeStyle; },
          onEachFeature: function (feature, l) {
            l.bindTooltip(feature.properties.name, {sticky: true});
            if (opts.onArea) { l.on("click", function () { opts.onArea(feature.properties, map); }); }
          }
        }).addTo(map);
        if (data.bbox) { map.fitBounds([[data.bbox[1], data.bbox[0]], [data.bbox[3], data.bbox[2]]], {padding: [8, 8]}); }
        return communes;
      });
    };
    if (!tileUrl || opts.outlines || opts.drill) {
      if (!tileUrl) { el.classList.add("sp-map-no-tiles"); }
      map.spOutlines = SP.areas("level=district").then(function (data) {
        var layer = L.geoJSON(data, {
          style: function () { return SP.outlineStyle; },
          interactive: Boolean(opts.drill || opts.onArea),
          onEachFeature: function (feature, l) {
            l.on("click", function () {
              if (opts.onArea) { opts.onArea(feature.properties, map); }
              if (opts.drill) { map.spDrill(feature.properties.id); }
            });
          }
        });
        layer.eachLayer(function (l) {
          var p = l.feature && l.feature.properties;
          if (!tileUrl && p && p.name && p.centre) {
            L.tooltip({permanent: true, direction: "center", className: "sp-area-label", opacity: 0.8})
              .setLatLng([p.centre[1], p.centre[0]]).setContent(p.name).addTo(map);
          }
        });
        layer.addTo(map);
        layer.bringToBack();
        if (!hasView && data.bbox) {
          map.fitBounds([[data.bbox[1], data.bbox[0]], [data.bbox[3], data.bbox[2]]], {padding: [8, 8]});
        }
        if (opts.onOutlines) { opts.onOutlines(layer, map); }
        return layer;
      }).catch(function () { return null; });
    }
    return map;
  };
})();
