"""Downloads of a hot-spot analysis: CSV and GeoJSON, one row/feature per hexagon or area.

Columns: cell or code (and name), reports, gi_z, p_value, class (+3…-3), class_label.
GeoJSON geometry is WGS-84 (RFC 7946), hexagon rings from H3, areas simplified.
"""

from __future__ import annotations

import io

import orjson
import pandas as pd

from geo.analytics.hotspots import KLASS_LABELS, cell_polygon
from geo.readmodels import HotspotAnalysis


def _table(a: HotspotAnalysis, unit: str) -> pd.DataFrame:
    src = a.hexes if unit == "hex" else a.areas
    key = ["cell"] if unit == "hex" else ["code", "name"]
    out = src[key].copy()
    out["reports"] = src["n"].astype(int)
    out["gi_z"] = src["z"].round(4)
    out["p_value"] = src["p"].round(6)
    out["class"] = src["klass"].astype(int)
    out["class_label"] = [KLASS_LABELS[int(k)] for k in src["klass"]]
    return out


def analysis_csv(a: HotspotAnalysis, *, unit: str) -> bytes:
    buf = io.StringIO()
    _table(a, unit).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def analysis_geojson(a: HotspotAnalysis, *, unit: str) -> bytes:
    table = _table(a, unit)
    features = []
    for row in table.to_dict(orient="records"):
        if unit == "hex":
            geometry = {"type": "Polygon", "coordinates": [cell_polygon(row["cell"])]}
        else:
            shape = a.area_shapes.get(row["code"])
            geometry = orjson.loads(shape[1]) if shape else None
        features.append({"type": "Feature", "id": row.get("cell") or row.get("code"), "geometry": geometry,
                         "properties": row})
    meta = {"category": a.label, "since": a.since.isoformat(), "until": a.until.isoformat(),
            "h3_resolution": a.resolution, "level": a.level.value}
    return orjson.dumps({"type": "FeatureCollection", "features": features, "analysis": meta},
                        option=orjson.OPT_SERIALIZE_NUMPY)
