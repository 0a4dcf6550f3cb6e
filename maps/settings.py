"""Map settings (``GRIDMAP_MAP_*``): base tiles, framing of the public embed, asset location.

Nothing here reaches the internet by default: with no tiles configured the maps draw the grid
outlines on a plain background, so a page never waits on a tile server an intranet cannot see.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The file every map page needs: a folder holding it is an npm install of the map assets.
ASSET_PROBE = "leaflet/dist/leaflet.js"


def asset_candidates() -> list[Path]:
    """Where npm's map assets may be, in order: beside the source tree (a checkout or an
    editable install), in the working directory (the Docker image runs in /app, where its
    build copies node_modules), and under the environment's prefix (share/gridmap)."""
    return [REPO_ROOT / "node_modules", Path.cwd() / "node_modules",
            Path(sys.prefix) / "share" / "gridmap" / "node_modules"]


def find_assets_dir() -> Path:
    """The first of ``asset_candidates`` that holds the assets; the first candidate when none
    does (a missing-assets error then names where they were looked for first)."""
    candidates = asset_candidates()
    return next((c for c in candidates if (c / ASSET_PROBE).is_file()), candidates[0])


def missing_assets(assets_dir: Path) -> str | None:
    """Why ``assets_dir`` cannot serve the maps, with what to do; None when it can."""
    if (assets_dir / ASSET_PROBE).is_file():
        return None
    looked = ", ".join(str(c) for c in dict.fromkeys([assets_dir, *asset_candidates()]))
    return (f"the map assets (npm's leaflet and plugins) are not installed: looked in {looked}. Run "
            "`npm ci --ignore-scripts` where package.json is (`make setup` does), or set GRIDMAP_MAP_ASSETS_DIR "
            "to the node_modules folder that holds them")
OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
TIANDITU = "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}" \
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"


@dataclass(frozen=True, slots=True)
class TileLayerSpec:
    """One base tile layer, as Leaflet takes it (the folium maps and the report form's map)."""

    url: str
    attribution: str
    name: str
    subdomains: str = "abc"
    max_zoom: int = 19
    overlay: bool = False


class MapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDMAP_MAP_", env_file=".env", extra="ignore")

    tiles: str = Field(
        "none",
        description="Base tiles: none | osm | tianditu | an XYZ URL template containing {z}/{x}/{y}.",
    )
    tianditu_key: str | None = Field(None, description="Tianditu token (tk), required when tiles=tianditu.")
    tiles_attribution: str = Field("", description="Attribution shown for a self-hosted XYZ layer.")
    frame_ancestors: str = Field(
        "'self'",
        description="CSP frame-ancestors of the public embed, e.g. \"'self' https://www.example.gov.cn\".",
    )
    assets_dir: Path = Field(default_factory=find_assets_dir, description=(
        "Where npm installed the map assets (default: the first of <source tree>/node_modules, "
        "./node_modules and <prefix>/share/gridmap/node_modules that holds them)."))
    embed_min_count: int = Field(5, ge=5, description="Hexagons with fewer reports are suppressed (never below 5).")
    embed_max_age_s: int = Field(300, ge=0, description="Cache-Control max-age of the public embed (seconds).")
    hex_max_cells: int = Field(
        1500, ge=50, le=20_000, description="Upper bound of H3 cells over the map extent (picks the resolution)."
    )
    cache_ttl_s: float = Field(
        60.0, ge=0, description="Seconds a built hot-spot page or embed is reused (0: build every time)."
    )
    live_interval_ms: int = Field(2000, ge=500, description="How often the live layers poll their feeds.")
    live_window_h: float = Field(24.0, gt=0, description="New reports of the last N hours are on the live layer.")
    tile_cache_bytes: int = Field(
        64_000_000, ge=0, description="Bytes of built vector tiles kept in memory per process (0: none kept)."
    )
    vector_tiles_above: int = Field(10_000, ge=0, description=(
        "The command centre draws the areas from /tiles (vector tiles) instead of embedding every polygon "
        "when the active generation has more grids than this (0: always)."))
    public_base_url: str | None = Field(
        None, description="Absolute base URL encoded in grid QR codes (default: the request's own URL)."
    )
    report_url: str = Field(
        "/report?grid={code}", description="Where the public grid page's 'report a problem' link points ({code})."
    )

    def tile_layers(self) -> list[TileLayerSpec]:
        """The configured base tiles (none by default: nothing is fetched from elsewhere).
        Raises ValueError for tianditu without its key."""
        if self.tiles == "none":
            return []
        if self.tiles == "osm":
            return [TileLayerSpec(OSM, OSM_ATTRIBUTION, "OpenStreetMap")]
        if self.tiles == "tianditu":
            if not self.tianditu_key:
                raise ValueError("GRIDMAP_MAP_TILES=tianditu needs GRIDMAP_MAP_TIANDITU_KEY")
            return [TileLayerSpec(TIANDITU.replace("{layer}", layer).replace("{key}", self.tianditu_key),
                                  "© 天地图 Tianditu", name, subdomains="01234567", max_zoom=18, overlay=layer == "cva")
                    for layer, name in (("vec", "天地图 矢量"), ("cva", "天地图 注记"))]
        return [TileLayerSpec(self.tiles, self.tiles_attribution or "tiles", "base")]

    def tile_origins(self) -> list[str]:
        """The origins the base tiles load from, as a CSP source list takes them (a ``{s}``
        subdomain becomes ``*``)."""
        origins = []
        for spec in self.tile_layers() if self.tiles != "tianditu" or self.tianditu_key else []:
            parts = urlsplit(spec.url.replace("{s}", "SUBDOMAIN"))
            host = ".".join("*" if "SUBDOMAIN" in label else label for label in parts.netloc.split("."))
            origins.append(f"{parts.scheme}://{host}")
        return sorted(set(origins))

    @field_validator("tiles")
    @classmethod
    def _known_tiles(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("none", "osm", "tianditu"):
            return value.lower()
        if all(k in value for k in ("{z}", "{x}", "{y}")):
            return value
        raise ValueError("must be none, osm, tianditu, or an XYZ URL template with {z}, {x} and {y}")
