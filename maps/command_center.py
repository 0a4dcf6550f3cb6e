"""The command-centre wall map: areas coloured by open cases, heat per category group, and
live layers (new and overdue reports, worker positions) that poll GeoJSON feeds.

Input is already aggregated (``geo.analytics.mapdata`` / ``geo.analytics.analysis``); coordinates WGS-84.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import folium
import orjson
from branca.element import MacroElement
from folium.plugins import Fullscreen, HeatMap, Realtime
from folium.template import Template
from folium.utilities import JsCode

from geo.boundaries.hierarchy import BELOW_CITY
from geo.readmodels import AreaStatus
from maps.base import Legend, class_colours, count_breaks, count_legend_items, new_map, script_json
from maps.layers import CompactAreas
from maps.settings import MapSettings
from maps.vector import VectorAreas, VectorLevel

GROUP_LABELS = {
    "all": "all categories", "disputes": "disputes 矛盾纠纷", "safety": "safety hazards 安全隐患",
    "urban": "urban management 城市管理", "other": "other",
}
GROUP_COLOURS = {"disputes": "#7b3294", "safety": "#d7191c", "urban": "#2b83ba", "other": "#636363"}
HEAT_GROUPS = ("all", "disputes", "safety", "urban")
PLURAL = {"community": "communities"}
# Fine to coarse in the layer control (the city is not a layer).
LEVEL_ORDER = tuple(level.value for level in reversed(BELOW_CITY))


@dataclass(frozen=True, slots=True)
class LiveSources:
    """Where the live layers come from: feed URLs polled every ``interval_ms`` (served page),
    or embedded snapshots (a standalone file has no server to poll)."""

    reports_url: str | None = None
    workers_url: str | None = None
    interval_ms: int = 2000
    # Where a report's popup links to, the report id appended: the case page on the served wall
    # (staff only); None in a standalone file, which has no server to open it on.
    case_url: str | None = None
    reports_snapshot: Sequence[dict] = ()
    workers_snapshot: Sequence[dict] = ()


# One SVG renderer for the live markers (the map itself draws on canvas for speed): SVG
# markers get a DOM class per report, which is what lets a test or a wall script find them.
_REPORT_MARKER = JsCode("""
function(f, latlng) {
  window.gmLiveSvg = window.gmLiveSvg || L.svg();
  var p = f.properties, o = p.overdue;
  var colours = %s;
  return L.circleMarker(latlng, {
    renderer: window.gmLiveSvg, radius: o ? 7 : 5, weight: o ? 3 : 1, color: o ? '#000' : '#fff',
    fillColor: colours[p.group] || '#636363', fillOpacity: 0.9,
    className: 'gm-report gm-report-' + f.id + (o ? ' gm-overdue' : '')
  });
}""" % orjson.dumps(GROUP_COLOURS).decode())

def _report_popup(case_url: str | None) -> JsCode:
    """The live report's popup: category, status, grid, time, and a link to its case page."""
    link = ("" if case_url is None else
            " + '<br><a class=\"gm-case-link\" href=\"' + %s + encodeURIComponent(p.id) + '\">打开案件 open case</a>'"
            % orjson.dumps(case_url).decode())
    return JsCode("""
function(f, layer) {
  var p = f.properties, e = function(s) { var d = document.createElement('div'); d.textContent = s == null ? '' : String(s); return d.innerHTML; };
  layer.bindPopup('<b>' + e(p.category_name) + '</b><br>status: ' + e(p.status) + (p.overdue ? ' <b style="color:#b2182b">OVERDUE</b>' : '')
    + '<br>grid: ' + e(p.grid_code) + '<br>reported: ' + e(p.reported_at)%s);
}""" % link)


_WORKER_STYLE = "{radius: 3, weight: 1, color: '#08306b', fillColor: '#4292c6', fillOpacity: 1%s}"
_WORKER_MARKER = JsCode("function(f, latlng) { return L.circleMarker(latlng, %s); }" % (_WORKER_STYLE % ""))
# With vector-tile areas the workers go on the live layer's SVG renderer too: the map's canvas
# renderer would lay a full-map canvas over the tile pane and take every click meant for an
# area (an SVG lets clicks through where nothing is drawn).
_WORKER_MARKER_SVG = JsCode("function(f, latlng) { window.gmLiveSvg = window.gmLiveSvg || L.svg(); "
                            "return L.circleMarker(latlng, %s); }" % (_WORKER_STYLE % ", renderer: window.gmLiveSvg"))

_WORKER_POPUP = JsCode("""
function(f, layer) {
  var p = f.properties, e = function(s) { var d = document.createElement('div'); d.textContent = s == null ? '' : String(s); return d.innerHTML; };
  layer.bindPopup('<b>' + e(p.public_name) + '</b><br>' + e(p.role) + '<br>seen: ' + e(p.last_seen_at));
}""")

_FEATURE_ID = JsCode("function(f) { return f.id; }")


def level_label(level: str) -> str:
    return f"{PLURAL.get(level, level + 's')} by open cases"


def _area_layer(level: str, areas: Sequence[AreaStatus], *, show: bool) -> tuple[folium.FeatureGroup, list[int]]:
    breaks = count_breaks([a.open for a in areas])
    # A base layer, not an overlay: the layer control shows the levels as one radio group,
    # so the wall shows exactly one level at a time (the tiles stay outside the control).
    group = folium.FeatureGroup(name=level_label(level), overlay=False, show=show)
    rows = [(a.code, a.name, a.worker, a.open, a.overdue, a.geometry_json) for a in areas]
    CompactAreas(rows, breaks=breaks, colours=class_colours(breaks)).add_to(group)
    return group, breaks


def uses_vector_tiles(grid_count: int, settings: MapSettings) -> bool:
    """Whether the wall map draws its areas from vector tiles (more grids than
    GRIDMAP_MAP_VECTOR_TILES_ABOVE; 0 forces it) instead of embedding every polygon."""
    return grid_count > settings.vector_tiles_above


def build_command_center(
    *,
    areas: Mapping[str, Sequence[AreaStatus]],
    heat: Mapping[str, Sequence[Sequence[float]]],
    live: LiveSources,
    bounds: Sequence[float] | None,
    settings: MapSettings,
    default_level: str = "grid",
    window_label: str = "",
    vector: Mapping[str, VectorLevel] | None = None,
) -> folium.Map:
    """The wall map. ``areas``: level -> areas with open/overdue counts (one radio-button
    layer each, ``default_level`` first, the legend following the choice); ``heat``: group ->
    [lat, lon, count] (one toggle each). ``vector``: level -> its vector tiles, drawn instead
    of ``areas`` (then empty): the page holds no polygon."""
    m = new_map(bounds, settings)
    levels = vector if vector is not None else areas
    for level in sorted(levels, key=lambda lv: LEVEL_ORDER.index(lv) if lv in LEVEL_ORDER else len(LEVEL_ORDER)):
        if vector is not None:
            v = vector[level]
            VectorAreas(v, name=level_label(level), show=level == default_level).add_to(m)
            breaks, total_open, total_overdue = list(v.breaks), v.total_open, v.total_overdue
        else:
            rows = areas[level]
            layer, breaks = _area_layer(level, rows, show=level == default_level)
            layer.add_to(m)
            total_open, total_overdue = sum(a.open for a in rows), sum(a.overdue for a in rows)
        Legend(f"Open cases per {level}", count_legend_items(breaks) + [
            ("#000", f"total open {total_open:,}, overdue {total_overdue:,}"),
        ] + ([("#fff", f"heat window: {window_label}")] if window_label else []),
            css_class=f"gm-legend-open gm-legend-level-{level}").add_to(m)
    LegendFollowsLevel({level_label(level): level for level in levels}, default_level).add_to(m)
    for group in HEAT_GROUPS:
        points = heat.get(group, [])
        top = max((p[2] for p in points), default=1) or 1
        # leaflet.heat saturates at max=1: scale counts to 0..1 so the hottest cell is the peak.
        HeatMap(
            [[p[0], p[1], round(p[2] / top, 4)] for p in points] or [[0.0, 0.0, 0.0]],
            name=f"heat: {GROUP_LABELS[group]}", show=False, radius=18, blur=14, min_opacity=0.25, max_zoom=16,
        ).add_to(m)
    _add_live(m, live, svg_only=vector is not None)
    Fullscreen(position="topleft").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


class LegendFollowsLevel(MacroElement):
    """Shows the legend of the level chosen in the layer control, hides the others."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function(){
          var map = {{ this._parent.get_name() }}, levels = {{ this.levels_json }};
          function show(level) {
            document.querySelectorAll('.gm-legend-open').forEach(function(d) {
              d.style.display = d.classList.contains('gm-legend-level-' + level) ? '' : 'none';
            });
          }
          map.on('baselayerchange', function(e) { if (levels[e.name]) show(levels[e.name]); });
          map.whenReady(function() { setTimeout(function() { show({{ this.default|tojson }}); }, 0); });
        })();
        {% endmacro %}
    """)

    def __init__(self, levels: Mapping[str, str], default: str):
        super().__init__()
        self._name = "LegendFollowsLevel"
        self.levels_json = script_json(dict(levels))
        self.default = default


def _add_live(m: folium.Map, live: LiveSources, *, svg_only: bool = False) -> None:
    def source(url: str | None, snapshot: Sequence[dict]):
        if url:
            return url
        data = script_json({"type": "FeatureCollection", "features": list(snapshot)})
        return JsCode(f"function(ok, err) {{ ok({data}); }}")

    reports = folium.FeatureGroup(name="live: new and overdue reports", show=True).add_to(m)
    rt = Realtime(
        source(live.reports_url, live.reports_snapshot), interval=live.interval_ms, remove_missing=True,
        get_feature_id=_FEATURE_ID, point_to_layer=_REPORT_MARKER, on_each_feature=_report_popup(live.case_url), container=reports,
    )
    rt.control = False  # the named container group is what the layer control toggles
    rt.add_to(m)
    workers = folium.FeatureGroup(name="live: worker positions", show=True).add_to(m)
    wt = Realtime(
        source(live.workers_url, live.workers_snapshot), interval=max(live.interval_ms * 5, 10_000),
        remove_missing=True, get_feature_id=_FEATURE_ID, point_to_layer=_WORKER_MARKER_SVG if svg_only else _WORKER_MARKER,
        on_each_feature=_WORKER_POPUP, container=workers,
    )
    wt.control = False
    wt.add_to(m)
