"""The bulletin (定期分析研判) as one self-contained HTML file: tables, inline SVG charts
(``maps.charts``) and the hot-spot map (``maps.hotspots.build_hotspots``) in an ``iframe
srcdoc`` with Leaflet pasted in (``maps.assets.inline_assets``). Opens from disk with no
server and no network; prints (and so makes a PDF) as it is shown.

Takes the data of ``geo.analytics.bulletin.build_bulletin``; no SQL. Chinese first, English
second.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from geo.analytics.bulletin_model import Bulletin, Period, change_percent, change_points
from geo.analytics.hotspots import KLASS_LABELS
from maps.assets import inline_assets
from maps.base import render
from maps.charts import bar_pairs, line_chart
from maps.hotspots import build_hotspots
from maps.settings import MapSettings

TEMPLATES = Path(__file__).parent / "templates"
PERIOD_NAMES = {Period.week: ("周报", "weekly"), Period.fortnight: ("双周报", "fortnightly"),
                Period.month: ("月报", "monthly")}
GROUP_NAMES = {"disputes": ("矛盾纠纷", "disputes"), "safety": ("安全隐患", "safety hazards"),
               "urban": ("城市管理", "urban management"), "other": ("其他", "other")}
KLASS_ZH = {3: "热点（99% 置信）", 2: "热点（95% 置信）", 1: "热点（90% 置信）", 0: "不显著",
            -1: "冷点（90% 置信）", -2: "冷点（95% 置信）", -3: "冷点（99% 置信）"}
# The rate columns of every area table: (field, Chinese, English).
RATES = (("response_rate", "响应率", "response"), ("solved_rate", "办结率", "solved"),
         ("satisfaction_rate", "满意率", "satisfaction"))
MAP_ASSET_BASE = "gm-assets"
# Grids listed per hot-spot table (strongest first): a city of 4,642 grids may have hundreds.
LIST_LIMIT = 15


@dataclass(frozen=True, slots=True)
class BulletinPage:
    """The bulletin's HTML and the map document inside its iframe (whose inline scripts a
    server's CSP must allow too: a srcdoc frame inherits the page's policy)."""

    html: str
    frame_html: str


def pct(v: float | None) -> str:
    """A rate 0…1 as "95.0%"; "—" when there were no cases to rate."""
    return "—" if v is None else f"{v * 100:.1f}%"


def signed(v: float | None, unit: str) -> str:
    """A change with its sign and unit ("+5.0 pp", "−12.5%"); "—" when unknown."""
    if v is None:
        return "—"
    return f"{'+' if v > 0 else '−' if v < 0 else '±'}{abs(v):.1f}{unit}"


def trend_class(v: float | None, *, good_up: bool | None) -> str:
    """The CSS class colouring a change: better, worse or none (``good_up`` None: neither
    direction is better, as for the number of reports)."""
    if not v or good_up is None:
        return "flat"
    return "better" if (v > 0) == good_up else "worse"


def hours(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(pct=pct, signed=signed, hours=hours)
    env.globals.update(trend_class=trend_class, change_points=change_points, change_percent=change_percent,
                       RATES=RATES, KLASS_ZH=KLASS_ZH, KLASS_LABELS=KLASS_LABELS)
    return env


def hotspot_frame(b: Bulletin, *, settings: MapSettings) -> str:
    """The hot-spot map of the period (``build_hotspots``: Gi* per hexagon and per grid,
    density) as a standalone document: no base tiles (they would be fetched from a tile
    server), no weekly animation (a period is a few weeks at most), Leaflet inlined."""
    a = dataclasses.replace(b.hotspots, weeks=[])
    m = build_hotspots(a, settings=settings.model_copy(update={"tiles": "none"}))
    page, used = render(m, asset_base=MAP_ASSET_BASE, title="gridmap hot spots")
    return inline_assets(page, used, assets_dir=settings.assets_dir, base=MAP_ASSET_BASE)


def _day(d) -> str:
    return f"{d.month}/{d.day}"


def charts(b: Bulletin) -> dict[str, Markup]:
    """The trend chart of each category group and the districts' bar chart, as SVG markup."""
    now_label = f"本期 this period {b.current.first:%m-%d}–{b.current.last:%m-%d}"
    before_label = f"上期 previous {b.previous.first:%m-%d}–{b.previous.last:%m-%d}"
    labels = [_day(d) for d in b.current.dates()]
    out = {
        t.group: Markup(line_chart(  # noqa: S704 - markup built (and escaped) by maps.charts
            t.now, t.before, labels=labels, now_label=now_label, before_label=before_label,
            title=f"{GROUP_NAMES[t.group][0]} {GROUP_NAMES[t.group][1]}: 每日受理 reports per day"))
        for t in b.trends
    }
    rows = [(d.name or d.code, d.value("total"), d.value("total", "before")) for d in b.districts]
    out["districts"] = Markup(bar_pairs(  # noqa: S704
        rows, title="各区县受理量 Reports per district", now_label=now_label, before_label=before_label))
    return out


def render_bulletin(b: Bulletin, *, settings: MapSettings) -> BulletinPage:
    """The bulletin page for ``b``. Raises FileNotFoundError when the map assets are missing."""
    frame = hotspot_frame(b, settings=settings)
    zh, en = PERIOD_NAMES[b.period]
    html = _env().get_template("bulletin.html").render(
        b=b, period_zh=zh, period_en=en, charts=charts(b), frame=frame, groups=GROUP_NAMES,
        area_tables=[("各区县", "Districts", b.districts), ("各街道", "Streets", b.streets)],
        list_limit=LIST_LIMIT,
    )
    return BulletinPage(html=html, frame_html=frame)
