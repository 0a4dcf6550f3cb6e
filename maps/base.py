"""What every gridmap page shares: the map frame, configured base tiles, a legend, rendering.

Builders in ``maps/`` take data (never a database session) and return ``folium.Map`` objects;
:func:`render` localizes the assets (no CDN) and returns the HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium
import orjson
from branca.element import Element, MacroElement
from folium.template import Template

from maps.assets import localize
from maps.settings import MapSettings

PLAIN_BACKGROUND = "#eef0f2"

# Sequential palette (light → dark red) for counts; diverging palette for Gi* classes.
COUNT_COLOURS = ("#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603")
GI_COLOURS = {
    3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f7f7f7", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac",
}


def new_map(bounds: Sequence[float] | None, settings: MapSettings, *, zoom_control: bool = True) -> folium.Map:
    """A map fitted to ``bounds`` (minlon, minlat, maxlon, maxlat; WGS-84) with the configured tiles."""
    m = folium.Map(tiles=None, control_scale=True, zoom_control=zoom_control, prefer_canvas=True)
    if bounds:
        minlon, minlat, maxlon, maxlat = bounds
        m.location = [(minlat + maxlat) / 2, (minlon + maxlon) / 2]
        m.fit_bounds([[minlat, minlon], [maxlat, maxlon]])
    add_tiles(m, settings)
    m.get_root().header.add_child(
        Element(f"<style>.leaflet-container{{background:{PLAIN_BACKGROUND}}}"
                ".gm-legend{background:#fff;padding:6px 8px;border-radius:4px;font:12px/1.4 sans-serif;"
                "box-shadow:0 1px 4px rgba(0,0,0,.3)}.gm-legend i{display:inline-block;width:14px;height:10px;"
                "margin-right:4px;border:1px solid #999}</style>"),
        name="gridmap_css",
    )
    return m


def add_tiles(m: folium.Map, settings: MapSettings) -> None:
    """Base tiles from settings; ``none`` adds nothing, so the page never waits on the internet.

    Tiles stay out of the layer control (one choice is no choice): the command centre's
    levels are its base layers, and picking one must not switch the tiles off."""
    for spec in settings.tile_layers():
        folium.TileLayer(spec.url, attr=spec.attribution, name=spec.name, subdomains=spec.subdomains,
                         max_zoom=spec.max_zoom, overlay=spec.overlay, control=False).add_to(m)


def script_json(value) -> str:
    """``value`` as JSON to paste into an inline <script>: UTF-8 (readable, smaller than \\u
    escapes), with "</" escaped so no string in it can end the script element."""
    return orjson.dumps(value).decode().replace("</", "<\\/")


class Legend(MacroElement):
    """A fixed legend box (plain HTML: branca's colormap legend would load d3 from a CDN)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function(){
          var legend = L.control({position: {{ this.position|tojson }}});
          legend.onAdd = function(){
            var div = L.DomUtil.create('div', 'gm-legend {{ this.css_class }}');
            div.innerHTML = {{ this.html_json }};
            return div;
          };
          legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, title: str, items: Sequence[tuple[str, str]], *, position: str = "bottomright",
                 css_class: str = "",
                 extra_html: str = ""):
        super().__init__()
        self._name = "Legend"
        rows = "".join(f'<div><i style="background:{c}"></i>{html.escape(label)}</div>' for c, label in items)
        # extra_html is trusted markup built by the caller (e.g. download links), never user text.
        self.html = f"<b>{html.escape(title)}</b>{rows}{extra_html}"
        self.html_json = script_json(self.html)
        self.position = position
        self.css_class = css_class


def _nice(x: float) -> int:
    """The 1-2-5 number (1, 2, 5, 10, 20, 50 …) nearest ``x`` on a log scale."""
    import math

    e = math.floor(math.log10(x))
    return int(min((m * 10 ** e for m in (1, 2, 5, 10)), key=lambda c: abs(math.log(c / x))))


def count_breaks(values: Sequence[int], *, classes: int = len(COUNT_COLOURS) - 1) -> list[int]:
    """Upper bounds (increasing, distinct, the last = the largest value) of up to ``classes``
    classes of the non-zero ``values``; the first class starts at 1.

    Quantile classes when they separate the data: counts spread evenly (a few streets) get
    equal shares. Skewed counts (most hexagons hold a report or two, hot spots hundreds) make
    quantiles degenerate into one-count classes at the bottom and one wide class holding
    every hot spot ("1, 2, 3, 4, 5–796"): then the bounds are log-spaced between the
    smallest and largest count, rounded to 1-2-5 numbers, and a bound whose class would be
    empty is dropped ("1–5, 6–20, 21–50, 51–200, 201–796"). When the values span no more
    than ``classes`` integers, each is its own class.
    """
    import numpy as np

    nz = np.asarray([v for v in values if v > 0], dtype=float)
    if nz.size == 0:
        return [0]
    lo, hi = int(nz.min()), int(nz.max())
    if hi - lo + 1 <= classes:
        return [int(v) for v in np.unique(nz)]
    quantiles = [int(q) for q in np.unique(np.ceil(np.quantile(nz, np.linspace(0, 1, classes + 1)[1:])))]
    if len(quantiles) > 1 and not (np.diff([0, *quantiles])[:-1] == 1).any():
        return quantiles
    raw = lo * (hi / lo) ** (np.arange(1, classes) / classes)
    bounds = sorted({b for b in (_nice(x) for x in raw) if lo < b < hi}) + [hi]
    held = set(np.searchsorted(np.asarray(bounds, dtype=float), nz, side="left").tolist())
    return [b for i, b in enumerate(bounds) if i in held or b == hi]


def class_colours(breaks: Sequence[int]) -> list[str]:
    """The zero colour, then one colour per class of ``breaks``, spread over the whole ramp
    (three classes get the light, middle and darkest colours, not the three lightest)."""
    ramp, k = COUNT_COLOURS[1:], len(breaks)
    picks = [len(ramp) - 1] if k <= 1 else [round(i * (len(ramp) - 1) / (k - 1)) for i in range(k)]
    return [COUNT_COLOURS[0], *(ramp[i] for i in picks)]


def colour_for(value: int, breaks: Sequence[int]) -> str:
    """Zero → the lightest colour; otherwise the colour of the first class whose bound holds it
    (``class_colours``; the browser-side layers are given the same list)."""
    colours = class_colours(breaks)
    if value <= 0:
        return colours[0]
    for i, b in enumerate(breaks):
        if value <= b:
            return colours[1 + i]
    return colours[-1]


def count_legend_items(breaks: Sequence[int], *, start: int = 1) -> list[tuple[str, str]]:
    """Legend rows "low–high" per class; ``start`` is the smallest count that can be shown."""
    items, low = [], start
    for b in breaks:
        items.append((colour_for(b, breaks), f"{low}–{b}" if b > low else f"{b}"))
        low = b + 1
    return items


def render(m: folium.Map, *, asset_base: str = "/assets", title: str = "gridmap") -> tuple[str, set[str]]:
    """Localize every asset link to ``asset_base`` and render the page; returns (html, assets used)."""
    root = m.get_root()
    root.title = html.escape(title)  # branca pastes it into <title> as it is (area names are data)
    used = localize(root, base=asset_base)
    _stable_ids(root)
    page = root.render()
    return page, used


def _stable_ids(root) -> None:
    """Replace folium's random element ids with sequential ones: the same data then renders the
    same bytes, so an ETag over the page is stable and caches work."""
    from maps.assets import _walk

    for i, el in enumerate(_walk(root)):
        el._id = f"{i:06x}"


def add_outline(m: folium.Map, geometry: dict | None) -> None:
    """The city boundary as a thin line: context on the plain background, no interaction."""
    if geometry:
        folium.GeoJson(
            {"type": "Feature", "geometry": geometry, "properties": {}}, name="city outline", control=False,
            style_function=lambda f: {"color": "#666", "weight": 1.2, "fill": False}, interactive=False,
        ).add_to(m)
