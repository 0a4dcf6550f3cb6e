"""Local copies of every JS/CSS asset folium would fetch from public CDNs.

Folium elements declare their assets as ``default_js`` / ``default_css`` class attributes and
``JSCSSMixin.add_js_link`` edits those lists *in place*, i.e. for every map in the process.
So :func:`localize` never touches a class attribute: it walks one finished map and gives each
element its own instance lists pointing at the app's ``/assets`` mount (or at relative copies
for a standalone file). An asset with no local copy raises, so a folium upgrade that adds a CDN
link fails the tests instead of silently phoning out.
"""

from __future__ import annotations

import base64
import posixpath
import re
from pathlib import Path

from branca.element import Element

# folium resource name -> path under node_modules (versions pinned in package.json).
ASSET_FILES: dict[str, str] = {
    "leaflet": "leaflet/dist/leaflet.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    "jquery": "jquery/dist/jquery.min.js",
    "bootstrap": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "bootstrap_css": "bootstrap/dist/css/bootstrap.min.css",
    "awesome_markers": "leaflet.awesome-markers/dist/leaflet.awesome-markers.min.js",
    "awesome_markers_css": "leaflet.awesome-markers/dist/leaflet.awesome-markers.css",
    "awesome_markers_font_css": "@fortawesome/fontawesome-free/css/all.min.css",
    "leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.js",
    "iso8601": "iso8601-js-period/iso8601.js",
    "leaflet.timedimension.min.js": "leaflet-timedimension/dist/leaflet.timedimension.min.js",
    "leaflet.timedimension.control.min.css": "leaflet-timedimension/dist/leaflet.timedimension.control.min.css",
    "heatmap.min.js": "heatmap.js/build/heatmap.min.js",
    "leaflet-heatmap.js": "heatmap.js/plugins/leaflet-heatmap/leaflet-heatmap.js",
    "Leaflet_Realtime_js": "leaflet-realtime/dist/leaflet-realtime.min.js",
    "Control.Fullscreen.js": "leaflet.fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "leaflet.fullscreen/Control.FullScreen.css",
    "markerclusterjs": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "markerclustercss": "leaflet.markercluster/dist/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    # Not folium's: the command centre's vector-tile areas (maps.vector).
    "leaflet_vectorgrid": "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
}

# Served for the app's own pages rather than folium's: the API docs (Swagger UI) and the
# public report form's small map.
PAGE_FILES: tuple[str, ...] = (
    "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui.css",
    "swagger-ui-dist/favicon-32x32.png",
)

# Assets folium links that these maps do not need: Bootstrap 3 glyphicons (we use Font
# Awesome icons only) and folium's rotate-icon CSS (no rotated markers).
DROPPED = frozenset({"glyphicons_css", "awesome_rotate_css"})

# Files the CSS above loads by relative URL (images, fonts) and that must be served too.
ASSET_DIRS: tuple[str, ...] = (
    "leaflet/dist/images/",
    "leaflet.awesome-markers/dist/images/",
    "@fortawesome/fontawesome-free/webfonts/",
    "leaflet.fullscreen/",  # icon-fullscreen.svg next to its CSS
    "bootstrap3-glyphicons/dist/fonts/",  # the TimeDimension control's icons (see PATCHED)
)

# The TimeDimension control CSS loads its icon font from netdna.bootstrapcdn.com; we serve it a
# copy whose @font-face points at Bootstrap 3's glyphicons from npm, by a relative URL that is
# right both under /assets and in a standalone page's asset folder.
_GLYPHS_CDN = "//netdna.bootstrapcdn.com/bootstrap/3.0.0/fonts/"
_GLYPHS_LOCAL = "../../bootstrap3-glyphicons/dist/fonts/"
PATCHED: dict[str, tuple[tuple[str, str], ...]] = {
    "leaflet-timedimension/dist/leaflet.timedimension.control.min.css": ((_GLYPHS_CDN, _GLYPHS_LOCAL),),
}


def read_asset(assets_dir: Path, rel: str) -> bytes:
    """The bytes to serve for ``rel``: the file, with PATCHED replacements applied."""
    data = (assets_dir / rel).read_bytes()
    for old, new in PATCHED.get(rel, ()):
        data = data.replace(old.encode(), new.encode())
    return data


class UnmappedAsset(LookupError):
    """A folium element links an asset with no local copy (would be fetched from a CDN)."""


def allowed_asset(path: str) -> bool:
    """Whether ``path`` (relative to the assets dir) may be served: listed files and their images/fonts."""
    if ".." in path.split("/"):
        return False
    return path in ASSET_FILES.values() or path in PAGE_FILES or any(
        path.startswith(d) and path.endswith((".png", ".svg", ".woff2", ".woff", ".ttf", ".eot")) for d in ASSET_DIRS
    )


def _walk(element: Element):
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _local(pairs, base: str) -> list[tuple[str, str]]:
    out = []
    for name, _url in pairs:
        if name in DROPPED:
            continue
        if name not in ASSET_FILES:
            raise UnmappedAsset(f"no local copy of folium asset {name!r} ({_url}); add it to maps/assets.py")
        out.append((name, f"{base}/{ASSET_FILES[name]}"))
    return out


def localize(root: Element, *, base: str = "/assets") -> set[str]:
    """Point every asset link of ``root`` and its descendants at ``base`` (instance attributes only).

    Call on the finished map, after all layers are added. Returns the relative asset paths used.
    """
    used: set[str] = set()
    for el in _walk(root):
        for attr in ("default_js", "default_css"):
            pairs = getattr(el, attr, None)
            if pairs is None:
                continue
            local = _local(pairs, base)
            setattr(el, attr, local)  # instance attribute: the class keeps folium's CDN defaults
            used.update(url[len(base) + 1:] for _, url in local)
    return used


def copy_assets(used: set[str], *, assets_dir: Path, dest: Path) -> None:
    """Copy the files of a standalone page (and the images/fonts their CSS loads) under ``dest``.

    The page links them relatively, so the HTML file plus this folder work offline.
    """
    for rel in sorted(used):
        _copy(assets_dir, rel, dest)
    needed = {d for d in ASSET_DIRS if any(rel.startswith(d.split("/")[0]) for rel in used)}
    if any(rel in PATCHED for rel in used):
        needed.add("bootstrap3-glyphicons/dist/fonts/")
    for d in sorted(needed):
        src = assets_dir / d
        for f in sorted(src.iterdir()) if src.is_dir() else ():
            if f.is_file() and allowed_asset(f"{d}{f.name}"):
                _copy(assets_dir, f"{d}{f.name}", dest)


def _copy(assets_dir: Path, rel: str, dest: Path) -> None:
    if not (assets_dir / rel).is_file():
        raise FileNotFoundError(f"map asset {assets_dir / rel} is missing: run `npm ci --ignore-scripts` (make setup)")
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    (dest / rel).write_bytes(read_asset(assets_dir, rel))


# What an inlined page (one file, nothing beside it) drops: folium links these for markers and
# icons, which the pages inlined (the bulletin's hot-spot map) do not draw; inlining them
# would add ~1 MB of CSS and fonts.
NOT_INLINED = frozenset({
    "jquery/dist/jquery.min.js", "bootstrap/dist/js/bootstrap.bundle.min.js", "bootstrap/dist/css/bootstrap.min.css",
    "leaflet.awesome-markers/dist/leaflet.awesome-markers.min.js",
    "leaflet.awesome-markers/dist/leaflet.awesome-markers.css", "@fortawesome/fontawesome-free/css/all.min.css",
})
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(?P<url>[^)'\"]+)\1\s*\)")
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".woff2": "font/woff2", ".woff": "font/woff",
         ".ttf": "font/ttf", ".eot": "application/vnd.ms-fontobject"}


def _data_urls(css: str, rel: str, assets_dir: Path) -> str:
    """``css`` (the file ``rel``) with every url() of a servable asset as a data: URL."""
    folder = posixpath.dirname(rel)

    def repl(m: re.Match) -> str:
        url = m.group("url").split("?")[0].split("#")[0]
        if url.startswith(("data:", "http:", "https:", "//")):
            return m.group(0)
        target = posixpath.normpath(posixpath.join(folder, url))
        mime = _MIME.get(posixpath.splitext(target)[1])
        if mime is None or not allowed_asset(target) or not (assets_dir / target).is_file():
            return m.group(0)
        data = base64.b64encode(read_asset(assets_dir, target)).decode()
        return f'url("data:{mime};base64,{data}")'

    return _CSS_URL.sub(repl, css)


def inline_assets(page: str, used: set[str], *, assets_dir: Path, base: str) -> str:
    """A page rendered with ``asset_base=base`` made one self-contained file: each linked
    script and stylesheet pasted in (the CSS's images and fonts as data: URLs), those in
    NOT_INLINED left out. Raises FileNotFoundError naming a missing asset."""
    for rel in sorted(used):
        script, link = f'<script src="{base}/{rel}"></script>', f'<link rel="stylesheet" href="{base}/{rel}"/>'
        if rel in NOT_INLINED:
            page = page.replace(script, "").replace(link, "")
            continue
        if not (assets_dir / rel).is_file():
            raise FileNotFoundError(f"map asset {assets_dir / rel} is missing: run `npm ci --ignore-scripts`")
        text = read_asset(assets_dir, rel).decode("utf-8")
        if rel.endswith(".js"):
            # "</script" inside the code would end the element early.
            page = page.replace(script, "<script>" + text.replace("</script", "<\\/script") + "</script>")
        else:
            page = page.replace(link, "<style>" + _data_urls(text, rel, assets_dir).replace("</style", "<\\/style")
                                + "</style>")
    if f'="{base}/' in page:
        raise UnmappedAsset(f"an asset link to {base}/ was not inlined")
    return page
