"""A compact area layer for folium: thousands of polygons without folium's per-feature overhead.

``folium.GeoJson`` re-serialises data with spaces and ``\\uXXXX`` escapes and writes a style
``switch`` listing every feature id: 4,642 grids cost ~2 MB. Here each area is one array
``[code, name, worker, open, overdue, polygons]`` where every ring is delta-encoded integers
in 1e-5 degrees (≈ 1 m; the idea of TopoJSON quantisation and Google polylines), colours are
computed in the browser from class breaks, and popups are built on click. ~3x smaller.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import orjson
from branca.element import MacroElement
from folium.template import Template

from maps.base import script_json

SCALE = 100_000  # 1e-5 degree units


def encode_ring(ring: Sequence[Sequence[float]]) -> list[int]:
    """[[lon, lat], ...] → [x0, y0, dx1, dy1, ...] in 1e-5 degrees (closing point dropped)."""
    out: list[int] = []
    px = py = 0
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    for lon, lat in pts:
        x, y = round(lon * SCALE), round(lat * SCALE)
        out += (x - px, y - py)
        px, py = x, y
    return out


def encode_geometry(geometry: dict) -> list[list[list[int]]]:
    """A GeoJSON Polygon or MultiPolygon → polygons → rings → encoded ints."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [[encode_ring(r) for r in poly] for poly in polys]


@lru_cache(maxsize=20_000)
def encoded_geometry_json(geometry_json: str) -> list:
    # Outlines repeat on every wall-map build (cached upstream per generation): encode once.
    return encode_geometry(orjson.loads(geometry_json))


class CompactAreas(MacroElement):
    """Polygons coloured by ``open`` with a click popup (code, name, worker, open, overdue).

    ``rows``: (code, name, worker, open, overdue, GeoJSON geometry text). Add to a FeatureGroup.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function() {
          var rows = {{ this.payload }};
          var breaks = {{ this.breaks }}, colours = {{ this.colours }};
          function colour(n) {
            if (n <= 0) return colours[0];
            for (var i = 0; i < breaks.length; i++) if (n <= breaks[i]) return colours[Math.min(i + 1, colours.length - 1)];
            return colours[colours.length - 1];
          }
          function ring(a) {
            var out = [], x = 0, y = 0;
            for (var i = 0; i < a.length; i += 2) { x += a[i]; y += a[i + 1]; out.push([y / {{ this.scale }}, x / {{ this.scale }}]); }
            return out;
          }
          function esc(s) { var d = document.createElement('div'); d.textContent = s == null ? '' : String(s); return d.innerHTML; }
          var group = {{ this._parent.get_name() }};
          rows.forEach(function(r) {
            var p = L.polygon(r[5].map(function(poly) { return poly.map(ring); }), {
              fillColor: colour(r[3]), color: '#555', weight: 0.6, fillOpacity: 0.6
            });
            p.gmCode = r[0];
            p.bindPopup(function() {
              return '<b>' + esc(r[1]) + '</b><br>code ' + esc(r[0]) + '<br>worker: ' + esc(r[2] || '—')
                + '<br>open cases: ' + r[3] + '<br>overdue: ' + (r[4] ? '<b style="color:#b2182b">' + r[4] + '</b>' : 0);
            });
            p.on('mouseover', function() { p.setStyle({weight: 2.5, color: '#000'}); });
            p.on('mouseout', function() { p.setStyle({weight: 0.6, color: '#555'}); });
            group.addLayer(p);
          });
        })();
        {% endmacro %}
    """)

    def __init__(self, rows: Sequence[tuple], *, breaks: Sequence[int], colours: Sequence[str]):
        super().__init__()
        self._name = "CompactAreas"
        data = [[code, name, worker, int(n_open), int(n_overdue), encoded_geometry_json(geom)]
                for code, name, worker, n_open, n_overdue, geom in rows]
        self.payload = script_json(data)
        self.breaks = orjson.dumps(list(breaks)).decode()
        self.colours = orjson.dumps(list(colours)).decode()
        self.scale = SCALE


class CompactShapes(MacroElement):
    """Polygons with a fill from ``palette`` and a plain-text tooltip, in the compact encoding
    above. ``rows``: (polygons as from :func:`encode_geometry`, palette index, tooltip text).
    For hexagon layers folium's GeoJson spends more time serialising than the analysis takes."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function() {
          var rows = {{ this.payload }}, palette = {{ this.palette }}, style = {{ this.style }};
          function ring(a) {
            var out = [], x = 0, y = 0;
            for (var i = 0; i < a.length; i += 2) { x += a[i]; y += a[i + 1]; out.push([y / {{ this.scale }}, x / {{ this.scale }}]); }
            return out;
          }
          var group = {{ this._parent.get_name() }};
          rows.forEach(function(r) {
            var p = L.polygon(r[0].map(function(poly) { return poly.map(ring); }),
                              Object.assign({fillColor: palette[r[1]]}, style));
            if (r[2]) p.bindTooltip(r[2], {sticky: true});  // text, not HTML (escaped in Python)
            group.addLayer(p);
          });
        })();
        {% endmacro %}
    """)

    def __init__(self, rows: Sequence[tuple], *, palette: Sequence[str], style: dict):
        super().__init__()
        self._name = "CompactShapes"
        self.payload = script_json([list(r) for r in rows])
        self.palette = orjson.dumps(list(palette)).decode()
        self.style = orjson.dumps(style).decode()
        self.scale = SCALE


@lru_cache(maxsize=200_000)
def encoded_cell(cell: str) -> list:
    """An H3 cell as compact polygons (one ring), cached: cells recur across builds."""
    from geo.analytics.hotspots import cell_polygon

    return [[encode_ring(cell_polygon(cell))]]
