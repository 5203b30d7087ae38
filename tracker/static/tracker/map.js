/* The map page's Leaflet map. Sites come a tile at a time, for the part of the map in
   view (the page's data-sites URL, {z}/{x}/{y} as tile servers name tiles): one by one,
   or as clusters where a tile holds many. Corridor paths come in one piece. Every
   position is what the server lets the reader see (restricted sites coarsened for the
   public). Every name is set as text, never parsed as HTML. The map works (markers,
   paths) even when the tile server cannot be reached; the tables below hold the same
   places without JavaScript. */
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || !window.L || !window.fetch) { return; }
  element.textContent = "";
  var map = L.map(element, { scrollWheelZoom: false });
  L.tileLayer(element.getAttribute("data-tiles"), {
    maxZoom: 18,
    attribution: element.getAttribute("data-attribution")
  }).addTo(map);

  var approximateLabel = element.getAttribute("data-approximate-label");
  var sitesUrl = element.getAttribute("data-sites");

  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  function popup(name, url, extra) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = url;
    link.textContent = name;
    box.appendChild(link);
    extra.forEach(function (line) {
      var row = document.createElement("div");
      row.textContent = line;
      box.appendChild(row);
    });
    return box;
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      });
  }

  function siteLayer(site) {
    var position = [site.lat, site.lon];
    var layer = L.layerGroup();
    var extra = [];
    if (site.count) { extra.push(site.count); }
    if (site.approximate) {
      extra.push(approximateLabel);
      L.circle(position, { radius: 10000, color: "#b3261e", weight: 2, dashArray: "6 6", fillOpacity: 0.08 })
        .addTo(layer);
    }
    L.circleMarker(position, {
      radius: 8, color: "#0f2b46", weight: 2, fillColor: site.approximate ? "#b3261e" : "#0a58a8", fillOpacity: 0.9,
      className: "site-marker"
    }).bindPopup(popup(site.name, site.url, extra))
      .bindTooltip(text(site.name))
      .addTo(layer);
    return layer;
  }

  function clusterLayer(cluster) {
    var count = document.createElement("span");
    count.textContent = String(cluster.sites);
    var marker = L.marker([cluster.lat, cluster.lon], {
      icon: L.divIcon({ className: "site-cluster", html: count, iconSize: [40, 40] }),
      title: cluster.label,
      alt: cluster.label,
      keyboard: true
    });
    marker.on("click", function () {
      var bounds = L.latLngBounds([cluster.south, cluster.west], [cluster.north, cluster.east]);
      if (bounds.getNorthEast().equals(bounds.getSouthWest())) {
        map.setView(bounds.getCenter(), Math.min(map.getZoom() + 2, map.getMaxZoom()));
      } else {
        map.fitBounds(bounds, { padding: [40, 40] });
      }
    });
    return marker;
  }

  // A grid layer that draws nothing itself: it says which tiles are in view, and when
  // one leaves, so that the sites of each tile are fetched once and dropped with it.
  var shown = {};
  function keyOf(coords) { return coords.z + "/" + coords.x + "/" + coords.y; }
  var Sites = L.GridLayer.extend({
    createTile: function (coords, done) {
      var key = keyOf(coords);
      var pending = {};
      var tile = document.createElement("div");
      shown[key] = pending;
      getJson(sitesUrl.replace("{z}", coords.z).replace("{x}", coords.x).replace("{y}", coords.y))
        .then(function (data) {
          if (shown[key] !== pending) { return; }  // gone from view meanwhile
          var group = L.layerGroup();
          data.sites.forEach(function (site) { siteLayer(site).addTo(group); });
          data.clusters.forEach(function (cluster) { clusterLayer(cluster).addTo(group); });
          shown[key] = group.addTo(map);
        })
        .catch(function () { /* The tables below still list every site. */ })
        .then(function () { done(null, tile); });
      return tile;
    }
  });
  var sites = new Sites({ noWrap: true, tileSize: 256 });
  sites.on("tileunload", function (event) {
    var key = keyOf(event.coords);
    if (shown[key] instanceof L.Layer) { map.removeLayer(shown[key]); }
    delete shown[key];
  });

  getJson(element.getAttribute("data-corridors")).then(function (data) {
    data.corridors.forEach(function (corridor) {
      if (corridor.path.length < 2) { return; }
      L.polyline(corridor.path, { color: "#12672f", weight: 4, dashArray: "10 6", className: "corridor-path" })
        .bindPopup(popup(corridor.name, corridor.url, []))
        .bindTooltip(text(corridor.name))
        .addTo(map);
    });
  }).catch(function () { /* The list below still names every corridor's path. */ });

  var bounds = (element.getAttribute("data-bounds") || "").split(",").map(parseFloat);
  if (bounds.length === 4 && bounds.every(function (n) { return !isNaN(n); })) {
    map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], { padding: [30, 30], maxZoom: 9 });
  } else {
    map.setView([48.5, 31.5], 5);
  }
  sites.addTo(map);
})();
