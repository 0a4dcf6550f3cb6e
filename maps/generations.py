"""The planner's map of a redraw (``/maps/generations/{id}``): the old outlines dashed, the
new ones solid, changed areas highlighted by kind, the check's problems in red; a click on an
area shows its numbers (area change, households before and after, estimated or counted).

Takes the diff's and the check's GeoJSON (``geo.boundaries.diffs``/``checks``); no SQL.
"""

from __future__ import annotations

import html

import folium

from maps.base import Legend, new_map
from maps.settings import MapSettings

CHANGE_COLOURS = {"added": "#1a9850", "reshaped": "#fdae61", "removed": "#7f7f7f", "renamed": "#74add1",
                  "reparented": "#8073ac"}
PROBLEM_COLOUR = "#d7191c"
POPUP_FIELDS = (("code", "code"), ("changes", "change"), ("area_change_m2", "area change m²"),
                ("symdiff_m2", "redrawn m²"), ("households_before", "households before"),
                ("households_after", "households after"), ("estimated", "estimated"), ("old_parent", "parent before"),
                ("new_parent", "parent after"))


def _bounds(features: list[dict]) -> tuple[float, float, float, float] | None:
    xs, ys = [], []

    def walk(c):
        if c and isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for part in c:
                walk(part)

    for f in features:
        if f.get("geometry"):
            walk(f["geometry"]["coordinates"])
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def _kind(feature: dict) -> str:
    changes = feature["properties"].get("changes", "")
    return next((k for k in CHANGE_COLOURS if k in changes), "reshaped")


def build_generation_map(*, generation: int, against: int, diff: dict, problems: dict, context: dict | None,
                         settings: MapSettings) -> folium.Map:
    """The map of generation ``generation`` against ``against``. ``diff``: the diff's GeoJSON
    (features with ``version`` old/new); ``problems``: the check's GeoJSON; ``context``:
    optional GeoJSON of the unchanged grids around, drawn faintly."""
    features = diff["features"]
    m = new_map(_bounds(features + problems["features"]) or _bounds((context or {}).get("features", [])), settings)
    if context and context.get("features"):
        folium.GeoJson(context, name="communities around the changes", style_function=lambda f: {
            "color": "#555", "weight": 0.6, "fillOpacity": 0}).add_to(m)
    old = {"type": "FeatureCollection", "features": [f for f in features if f["properties"]["version"] == "old"]}
    new = {"type": "FeatureCollection", "features": [f for f in features if f["properties"]["version"] == "new"]}
    fields = [k for k, _ in POPUP_FIELDS]
    aliases = [a for _, a in POPUP_FIELDS]
    if old["features"]:
        folium.GeoJson(old, name=f"before (generation {against})", style_function=lambda f: {
            "color": "#333", "weight": 2, "dashArray": "6 4", "fillOpacity": 0},
            popup=folium.GeoJsonPopup(fields=fields, aliases=aliases, localize=False)).add_to(m)
    if new["features"]:
        folium.GeoJson(new, name=f"after (generation {generation})", style_function=lambda f: {
            "color": CHANGE_COLOURS[_kind(f)], "weight": 3, "fillColor": CHANGE_COLOURS[_kind(f)], "fillOpacity": 0.35},
            popup=folium.GeoJsonPopup(fields=fields, aliases=aliases, localize=False)).add_to(m)
    if problems["features"]:
        folium.GeoJson(problems, name="problems", style_function=lambda f: {
            "color": PROBLEM_COLOUR, "weight": 3, "fillColor": PROBLEM_COLOUR, "fillOpacity": 0.6},
            popup=folium.GeoJsonPopup(fields=["kind", "message"], aliases=["problem", ""], localize=False)).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    n_problems = len(problems["features"])
    items = [(c, k) for k, c in CHANGE_COLOURS.items()] + [(PROBLEM_COLOUR, f"problem ({n_problems})")]
    title = f"generation {generation} against {against}"
    extra = f"<div>{html.escape(str(len(new['features'])))} changed areas; old outlines dashed</div>"
    Legend(title, items, extra_html=extra).add_to(m)
    return m
