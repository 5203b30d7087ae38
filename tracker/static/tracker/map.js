/* Draw the sites and corridors listed in the page's tables on a Leaflet map. Every
   position comes from the page, already coarsened by the server for restricted sites;
   the map works (markers, paths) even when the tile server cannot be reached. */
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || !window.L) { return; }
  element.textContent = "";
  var map = L.map(element, { scrollWheelZoom: false });
  L.tileLayer(element.getAttribute("data-tiles"), {
    maxZoom: 18,
    attribution: element.getAttribute("data-attribution")
  }).addTo(map);

  var approximateLabel = element.getAttribute("data-approximate-label");
  var bounds = [];

  function popup(name, url, extra) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = url;
    link.textContent = name;
    box.appendChild(link);
    extra.forEach(function (text) {
      var line = document.createElement("div");
      line.textContent = text;
      box.appendChild(line);
    });
    return box;
  }

  document.querySelectorAll("#map-sites tbody tr[data-lat]").forEach(function (row) {
    var position = [parseFloat(row.getAttribute("data-lat")), parseFloat(row.getAttribute("data-lon"))];
    if (isNaN(position[0]) || isNaN(position[1])) { return; }
    var approximate = row.hasAttribute("data-approximate");
    var extra = [];
    if (row.getAttribute("data-count")) { extra.push(row.getAttribute("data-count")); }
    if (approximate) {
      extra.push(approximateLabel);
      L.circle(position, { radius: 10000, color: "#b3261e", weight: 2, dashArray: "6 6", fillOpacity: 0.08 }).addTo(map);
    }
    L.circleMarker(position, {
      radius: 8, color: "#0f2b46", weight: 2, fillColor: approximate ? "#b3261e" : "#0a58a8", fillOpacity: 0.9,
      className: "site-marker"
    }).bindPopup(popup(row.getAttribute("data-name"), row.getAttribute("data-url"), extra))
      .bindTooltip(row.getAttribute("data-name"))
      .addTo(map);
    bounds.push(position);
  });

  document.querySelectorAll("#map-corridors li[data-path]").forEach(function (item) {
    var points = item.getAttribute("data-path").split(";").map(function (pair) {
      return pair.split(",").map(parseFloat);
    }).filter(function (p) { return p.length === 2 && !isNaN(p[0]) && !isNaN(p[1]); });
    if (points.length < 2) { return; }
    L.polyline(points, { color: "#12672f", weight: 4, dashArray: "10 6", className: "corridor-path" })
      .bindPopup(popup(item.getAttribute("data-name"), item.getAttribute("data-url"), []))
      .addTo(map);
  });

  if (bounds.length) {
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 9 });
  } else {
    map.setView([48.5, 31.5], 5);
  }
})();
