"""The public page of one grid ("一格一码"): its outline, its hierarchy, its workers' public
names and roles, a link to report a problem, and the QR code that points here.

Public: no worker's real name, phone or position, and no report data at all.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium
import orjson

from geo.readmodels import AreaRow, PublicWorker
from maps.base import Legend, new_map
from maps.settings import MapSettings

ROLE_LABELS = {
    "grid_worker": "网格员 grid worker", "community_lead": "社区网格长 community lead",
    "street_lead": "街道网格办 street office", "district_lead": "区县网格中心 district centre",
    "city_center": "市指挥中心 city command centre",
}
ASSIGNMENT_LABELS = {"primary": "responsible", "backup": "backup", "lead": "lead"}


def _bounds(geometry: dict) -> tuple[float, float, float, float]:
    xs, ys = [], []

    def walk(c):
        if isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for part in c:
                walk(part)

    walk(geometry["coordinates"])
    return min(xs), min(ys), max(xs), max(ys)


def build_grid_page(
    *,
    area: AreaRow,
    path: Sequence[AreaRow],
    workers: Sequence[PublicWorker],
    report_url: str,
    qr_url: str,
    settings: MapSettings,
) -> folium.Map:
    """The grid's public page. ``path``: city → … → the area itself."""
    geometry = orjson.loads(area.geometry_json) if area.geometry_json else None
    m = new_map(_bounds(geometry) if geometry else None, settings)
    if geometry:
        folium.GeoJson(
            {"type": "Feature", "geometry": geometry, "properties": {"code": area.code, "name": area.name}},
            name=area.name,
            style_function=lambda f: {"color": "#c0392b", "weight": 3, "fillColor": "#e74c3c", "fillOpacity": 0.15},
        ).add_to(m)
    e = html.escape
    hierarchy = " › ".join(e(p.name) for p in path)
    people = "".join(
        f"<li>{e(w.public_name)} — {e(ROLE_LABELS.get(w.role, w.role))}"
        f" ({e(ASSIGNMENT_LABELS.get(w.assignment, w.assignment))})</li>"
        for w in workers
    ) or "<li>no worker assigned</li>"
    panel = (
        f'<div class="gm-grid-page"><div style="font-size:15px"><b>{e(area.name)}</b></div>'
        f"<div>grid code {e(area.code)}</div><div>{hierarchy}</div>"
        f"<ul style='padding-left:16px;margin:4px 0'>{people}</ul>"
        f'<a class="gm-report-link" href="{e(report_url)}">report a problem here 我要上报</a><br>'
        f'<img src="{e(qr_url)}" alt="QR code of this page" width="120" height="120"></div>'
    )
    Legend("一格一码", [], position="topright", css_class="gm-grid-info", extra_html=panel).add_to(m)
    return m
