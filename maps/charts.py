"""Small inline SVG charts for printed pages (the bulletin): no JavaScript, no library, text as
text (the browser picks the CJK font), so a page opens from disk and prints as vectors.

Every label is escaped here; the result is trusted markup for a template.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from math import ceil, floor, log10

NOW_COLOUR, BEFORE_COLOUR = "#c0392b", "#7f8c8d"


def nice_ticks(top: float, *, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 5 × 10ⁿ) up to at least ``top`` (``top`` ≤ 0: [0, 1])."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    mag = 10 ** floor(log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(step, 1)  # counts: no fractional ticks
    return [i * step for i in range(int(ceil(top / step)) + 1)]


def text_width(text: str, size: float) -> float:
    """A rough width in px of ``text`` at font ``size``: CJK characters are square, Latin about half."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.58 for ch in text)


def _legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> str:
    """Legend entries (swatch markup at (x, y-4), colour, label) side by side, never overlapping."""
    out = []
    for swatch, _colour, label in items:
        out.append(swatch.format(x=x, x2=x + 18, y=y - 4, ry=y - 9)
                   + f'<text x="{x + 22:.1f}" y="{y}" font-size="10">{html.escape(label)}</text>')
        x += 22 + text_width(label, 10) + 16
    return "".join(out)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"


def line_chart(
    now: Sequence[int], before: Sequence[int], *, labels: Sequence[str], title: str,
    now_label: str, before_label: str, width: int = 460, height: int = 210,
) -> str:
    """Two series of counts over the same day positions: this period (solid, with points) and
    the previous one (dashed). ``labels``: one per position (this period's dates); a few are
    shown. Returns an ``<svg>`` element with a ``<title>``."""
    n = max(len(now), len(before), 1)
    left, right, top, bottom = 40, 18, 30, 42
    pw, ph = width - left - right, height - top - bottom
    ticks = nice_ticks(max([*now, *before, 0]))
    ymax = ticks[-1]

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - ph * v / ymax

    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gm-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{e(title, quote=True)}">',
             f"<title>{e(title)}</title>",
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{e(title)}</text>']
    for t in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y(t) + 4:.1f}" font-size="10" text-anchor="end">{_fmt(t)}</text>')
    step = max(1, ceil(n / 7))
    for i in range(0, n, step):
        if i < len(labels):
            parts.append(f'<text x="{x(i):.1f}" y="{top + ph + 14}" font-size="10" text-anchor="middle">'
                         f"{e(labels[i])}</text>")

    def series(values: Sequence[int], colour: str, dash: str, points: bool, name: str) -> None:
        if not values:
            return
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="gm-series" fill="none" stroke="{colour}" stroke-width="2"{dash} '
                     f'points="{pts}"><title>{e(name)}</title></polyline>')
        if points:
            parts.extend(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                         f"<title>{e(labels[i] if i < len(labels) else str(i + 1))}: {v}</title></circle>"
                         for i, v in enumerate(values))

    series(before, BEFORE_COLOUR, ' stroke-dasharray="5 3"', False, before_label)
    series(now, NOW_COLOUR, "", n <= 31, now_label)
    line = '<line x1="{x}" x2="{x2}" y1="{y}" y2="{y}" stroke-width="2" stroke="%s"%s/>'
    parts.append(_legend(left, height - 10, [(line % (NOW_COLOUR, ""), NOW_COLOUR, now_label),
                                             (line % (BEFORE_COLOUR, ' stroke-dasharray="5 3"'), BEFORE_COLOUR,
                                              before_label)]))
    parts.append("</svg>")
    return "".join(parts)


def bar_pairs(rows: Sequence[tuple[str, int, int]], *, title: str, now_label: str, before_label: str,
              width: int = 460) -> str:
    """Horizontal bar pairs per row ``(label, this period, previous)``; the value at each bar's end."""
    bar, gap, left, top = 9, 8, 110, 30
    height = top + len(rows) * (2 * bar + gap) + 26
    pw = width - left - 50
    top_value = max([v for _, a, b in rows for v in (a, b)] + [1])
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gm-chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{e(title, quote=True)}">',
             f"<title>{e(title)}</title>",
             f'<text x="0" y="16" font-size="13" font-weight="bold">{e(title)}</text>']
    for i, (label, a, b) in enumerate(rows):
        y0 = top + i * (2 * bar + gap)
        parts.append(f'<text x="{left - 6}" y="{y0 + bar + 3}" font-size="11" text-anchor="end">{e(label[:18])}</text>')
        for j, (v, colour) in enumerate(((a, NOW_COLOUR), (b, BEFORE_COLOUR))):
            w = pw * v / top_value
            yy = y0 + j * bar
            parts.append(f'<rect class="gm-bar" x="{left}" y="{yy}" width="{w:.1f}" height="{bar - 1}" fill="{colour}">'
                         f"<title>{e(label)}: {v:,}</title></rect>"
                         f'<text x="{left + w + 3:.1f}" y="{yy + bar - 2}" font-size="9">{v:,}</text>')
    box = '<rect x="{x}" y="{ry}" width="18" height="9" fill="%s"/>'
    parts.append(_legend(4, height - 8, [(box % NOW_COLOUR, NOW_COLOUR, now_label),
                                            (box % BEFORE_COLOUR, BEFORE_COLOUR, before_label)]) + "</svg>")
    return "".join(parts)
