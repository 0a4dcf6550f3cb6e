"""Areas drawn from vector tiles (``/tiles/{layer}/{z}/{x}/{y}.mvt``) by Leaflet.VectorGrid,
for cities whose polygons would not fit in a page: the page then carries a URL template and
class breaks, and its size no longer grows with the number of grids.

VectorGrid 1.3 calls ``L.DomEvent.fakeStop``, which Leaflet 1.8 removed; the layer's script
puts it back (marking the event stopped, as Leaflet's own ``stopPropagation`` does for its
events), so a click on a feature opens its popup and does not fall through to the map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from maps.base import class_colours

# folium-style (name, CDN URL) pair; maps.assets.localize points it at /assets.
VECTORGRID_JS = ("leaflet_vectorgrid", "https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js")


@dataclass(frozen=True, slots=True)
class VectorLevel:
    """One level drawn from tiles: the tile URL template, the MVT layer name in it, the class
    breaks of its open counts and the level's totals (for the legend)."""

    url: str
    layer: str
    breaks: Sequence[int]
    total_open: int
    total_overdue: int


class VectorAreas(JSCSSMixin, Layer):
    """A VectorGrid protobuf layer of areas coloured by ``open`` (the tile's property) with a
    click popup (code, name, open, overdue). A base layer by default (one level at a time)."""

    default_js = [VECTORGRID_JS]
    _template = Template("""
        {% macro script(this, kwargs) %}
        if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
        var {{ this.get_name() }} = (function() {
          var breaks = {{ this.breaks }}, colours = {{ this.colours }}, name = {{ this.layer|tojson }};
          function colour(n) {
            if (n <= 0) return colours[0];
            for (var i = 0; i < breaks.length; i++) if (n <= breaks[i]) return colours[Math.min(i + 1, colours.length - 1)];
            return colours[colours.length - 1];
          }
          function esc(s) { var d = document.createElement('div'); d.textContent = s == null ? '' : String(s); return d.innerHTML; }
          var styles = {};
          styles[name] = function(p) {
            return {fill: true, fillColor: colour(p.open), fillOpacity: 0.6, color: '#555', weight: 0.6};
          };
          var layer = L.vectorGrid.protobuf({{ this.url|tojson }}, {
            rendererFactory: L.canvas.tile, interactive: true, vectorTileLayerStyles: styles,
            maxNativeZoom: 22, getFeatureId: function(f) { return f.properties.code; }
          });
          layer.on('click', function(e) {
            var p = e.layer.properties;
            L.popup().setLatLng(e.latlng).setContent('<b>' + esc(p.name) + '</b><br>code ' + esc(p.code)
              + '<br>open cases: ' + esc(p.open) + '<br>overdue: '
              + (p.overdue ? '<b style="color:#b2182b">' + esc(p.overdue) + '</b>' : 0)).openOn({{ this._parent.get_name() }});
          });
          return layer;
        })();
        {% endmacro %}
    """)

    def __init__(self, level: VectorLevel, *, name: str, show: bool, overlay: bool = False):
        super().__init__(name=name, overlay=overlay, control=True, show=show)
        self._name = "VectorAreas"
        self.url = level.url
        self.layer = level.layer
        self.breaks = orjson.dumps(list(level.breaks)).decode()
        self.colours = orjson.dumps(class_colours(level.breaks)).decode()
