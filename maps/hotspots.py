"""The analyst's hot-spot page and the public embed.

Hot-spot page: raw H3 density, Gi* hot/cold spots (a separate layer and palette, so
significance is never confused with density), Gi* per area, and a weekly animation.
Embed: only hexagons with at least ``min_count`` reports, their count, nothing else.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import folium
import h3
from folium.plugins import Fullscreen, HeatMapWithTime

from geo.analytics.hotspots import KLASS_LABELS
from geo.readmodels import HotspotAnalysis, PublicHexes
from maps.base import (
    COUNT_COLOURS,
    GI_COLOURS,
    Legend,
    add_outline,
    colour_for,
    count_breaks,
    count_legend_items,
    new_map,
)
from maps.command_center import PLURAL
from maps.layers import CompactShapes, encoded_cell, encoded_geometry_json
from maps.settings import MapSettings

PALETTE = [*COUNT_COLOURS, *(GI_COLOURS[k] for k in (3, 2, 1, 0, -1, -2, -3))]
_GI_INDEX = {k: len(COUNT_COLOURS) + i for i, k in enumerate((3, 2, 1, 0, -1, -2, -3))}


def _count_index(n: int, breaks) -> int:
    return COUNT_COLOURS.index(colour_for(n, breaks))


def _layer(m: folium.Map, name: str, rows: list, *, style: dict, show: bool = True) -> None:
    group = folium.FeatureGroup(name=name, show=show).add_to(m)
    CompactShapes(rows, palette=PALETTE, style=style).add_to(group)


def build_hotspots(
    a: HotspotAnalysis, *, settings: MapSettings, downloads: Mapping[str, str] | None = None
) -> folium.Map:
    """The analysis page for ``a`` (see ``geo.analytics.analysis.analyse_hotspots``); ``downloads``:
    label -> URL of the CSV/GeoJSON exports, listed in the legend."""
    m = new_map(a.bounds, settings)
    add_outline(m, a.outline)
    nz = a.hexes[a.hexes["n"] > 0]
    breaks = count_breaks(nz["n"].tolist())
    density = [(encoded_cell(c), _count_index(int(n), breaks), f"{int(n)} reports")
               for c, n in zip(nz["cell"], nz["n"])]
    _layer(m, f"density: reports per hexagon (H3 res {a.resolution})", density,
           style={"weight": 0, "fillOpacity": 0.7}, show=False)

    sig = a.hexes[a.hexes["klass"] != 0]
    gi = [(encoded_cell(c), _GI_INDEX[int(k)], f"{KLASS_LABELS[int(k)]}: {int(n)} reports, Gi* z = {z:.2f}")
          for c, n, z, k in zip(sig["cell"], sig["n"], sig["z"], sig["klass"])]
    _layer(m, "Gi* hot and cold spots (hexagons)", gi, style={"color": "#333", "weight": 0.5, "fillOpacity": 0.75})

    areas = a.areas[a.areas["klass"] != 0]
    area_rows = [
        (encoded_geometry_json(a.area_shapes[code][1]), _GI_INDEX[int(k)],
         html.escape(f"{name} {code}: {KLASS_LABELS[int(k)]}, {int(n)} reports, Gi* z = {z:.2f}"))
        for code, name, n, z, k in zip(areas["code"], areas["name"], areas["n"], areas["z"], areas["klass"])
        if code in a.area_shapes
    ]
    _layer(m, f"Gi* hot and cold {PLURAL.get(a.level.value, a.level.value + 's')}", area_rows,
           style={"color": "#000", "weight": 1, "fillOpacity": 0.55}, show=False)

    if a.weeks:
        top = max((p[2] for _, pts in a.weeks for p in pts), default=1) or 1
        HeatMapWithTime(
            [[[p[0], p[1], round(p[2] / top, 3)] for p in pts] for _, pts in a.weeks],
            index=[w for w, _ in a.weeks], name=f"weekly animation (H3 res {a.animation_res})",
            # scale_radius: the radius is in degrees, so a blob covers about one hexagon at any zoom.
            radius=1.5 * h3.average_hexagon_edge_length(a.animation_res, "km") / 111.0, scale_radius=True,
            use_local_extrema=False,
            auto_play=False, max_opacity=0.7, show=False,
        ).add_to(m)

    items = [(GI_COLOURS[k], KLASS_LABELS[k]) for k in (3, 2, 1, -1, -2, -3)]
    items += [("#fff", f"{a.label}: {a.total:,} reports, {a.since:%Y-%m-%d} – {a.until:%Y-%m-%d}")]
    items += [("#fff", f"{int((a.hexes['klass'] != 0).sum())} significant hexagons (FDR-corrected)")]
    Legend("Getis-Ord Gi*", items, css_class="gm-legend-gi").add_to(m)
    Legend("Reports per hexagon", count_legend_items(breaks), position="bottomleft").add_to(m)
    if downloads:
        links = "".join(f'<a href="{html.escape(u, quote=True)}" download>{html.escape(label)}</a><br>'
                        for label, u in downloads.items())
        Legend("Download", [], position="topright", css_class="gm-downloads", extra_html=links).add_to(m)
    Fullscreen(position="topleft").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def build_embed(p: PublicHexes, *, settings: MapSettings) -> folium.Map:
    """The public hot-spot map: suppressed hexagon counts only (no points, no text, no people)."""
    m = new_map(p.bounds, settings)
    add_outline(m, p.outline)
    if any(n < p.min_count for _, n in p.cells):  # defence in depth: the query already dropped them
        raise ValueError("public hexagons must all meet the suppression threshold")
    breaks = count_breaks([n for _, n in p.cells])
    rows = [(encoded_cell(c), _count_index(n, breaks), f"{n} reports") for c, n in p.cells]
    _layer(m, "reports per hexagon", rows, style={"color": "#666", "weight": 0.3, "fillOpacity": 0.7})
    Legend(f"Reports per hexagon ({p.label})", count_legend_items(breaks, start=p.min_count) + [
        ("#fff", f"{p.since:%Y-%m-%d} – {p.until:%Y-%m-%d}; areas with fewer than {p.min_count} reports not shown"),
    ]).add_to(m)
    return m
