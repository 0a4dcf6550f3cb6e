"""The tile layers: one per boundary level, named as the TileJSON and the tile URLs name
them, and one of report hexagons with a vector layer per category group."""

from __future__ import annotations

import enum

from geo.boundaries.hierarchy import AreaLevel
from geo.reports.categories import GROUPS


class TileLayer(str, enum.Enum):
    grids = "grids"
    communities = "communities"
    streets = "streets"
    districts = "districts"
    city = "city"
    reports = "reports"

    @property
    def level(self) -> AreaLevel | None:
        """The boundary level of an area layer; None for the report hexagons."""
        return LAYER_LEVEL.get(self)


LAYER_LEVEL: dict[TileLayer, AreaLevel] = {
    TileLayer.grids: AreaLevel.grid, TileLayer.communities: AreaLevel.community,
    TileLayer.streets: AreaLevel.street, TileLayer.districts: AreaLevel.district, TileLayer.city: AreaLevel.city,
}
LEVEL_LAYER: dict[AreaLevel, TileLayer] = {level: layer for layer, level in LAYER_LEVEL.items()}

AREA_FIELDS: dict[str, str] = {
    "code": "String",
    "name": "String",
    "parent_code": "String",
    "open": "Number",
    "overdue": "Number",
}
AREA_FIELD_DOC = {
    "code": "the area's code (GB/T 2260 prefix + 3 digits per level)",
    "name": "the area's name",
    "parent_code": "the code of the area it lies in (absent for the city)",
    "open": "open cases (registered, dispatched, in progress); publicly a sensitive case counts in its "
            "community and above, never its grid",
    "overdue": "open cases past their due time",
}
HEX_FIELDS: dict[str, str] = {"cell": "String", "n": "Number", "resolution": "Number"}
HEX_FIELD_DOC = {
    "cell": "the H3 cell (hexadecimal index)",
    "n": "reports in the cell over the window (publicly: cells under the minimum count are left out)",
    "resolution": "the H3 resolution of the cell",
}
# The hexagon tile holds one vector layer per category group (geo.reports.categories).
HEX_GROUPS: tuple[str, ...] = GROUPS

# Zooms each layer is meant for (TileJSON minzoom/maxzoom); tiles answer at any z in range.
ZOOMS: dict[TileLayer, tuple[int, int]] = {
    TileLayer.city: (0, 22), TileLayer.districts: (0, 22), TileLayer.streets: (0, 22),
    TileLayer.communities: (0, 22), TileLayer.grids: (0, 22), TileLayer.reports: (0, 22),
}


def vector_layers(layer: TileLayer) -> list[dict]:
    """TileJSON ``vector_layers`` of ``layer``: the MVT layer names with their fields."""
    minzoom, maxzoom = ZOOMS[layer]
    if layer is TileLayer.reports:
        return [{"id": group, "description": f"report hexagons of the {group} group",
                 "minzoom": minzoom, "maxzoom": maxzoom,
                 "fields": {k: f"{v}: {HEX_FIELD_DOC[k]}" for k, v in HEX_FIELDS.items()}} for group in HEX_GROUPS]
    return [{"id": layer.value, "description": f"{layer.level.value} boundaries with open and overdue cases",
             "minzoom": minzoom, "maxzoom": maxzoom,
             "fields": {k: f"{v}: {AREA_FIELD_DOC[k]}" for k, v in AREA_FIELDS.items()}}]
