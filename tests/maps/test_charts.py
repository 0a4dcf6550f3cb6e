"""The bulletin's inline SVG charts: round ticks, escaped labels, parseable SVG."""

from __future__ import annotations

from lxml import etree

from maps.charts import bar_pairs, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_ticks_are_round_and_reach_the_top():
    assert nice_ticks(0) == [0, 1] and nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(7) == [0, 2, 4, 6, 8] and nice_ticks(517) == [0, 200, 400, 600]


def test_charts_are_svg_with_escaped_text():
    evil = '<script>alert(1)</script>区'
    for svg in (line_chart([1, 5, 2], [0, 3, 3], labels=["a", "b", evil], title=evil, now_label="本期", before_label="上期"),
                bar_pairs([(evil, 10, 7), ("大洼区", 0, 3)], title="各区县", now_label="本期", before_label="上期")):
        assert "<script" not in svg
        root = etree.fromstring(svg.encode())  # well-formed XML
        assert root.tag == f"{SVG}svg" and evil in "".join(root.itertext())
    line = etree.fromstring(line_chart([1, 5, 2], [0, 3, 3], labels=["1", "2", "3"], title="t", now_label="n",
                                       before_label="b").encode())
    series = line.findall(f".//{SVG}polyline")
    assert [len(s.get("points").split()) for s in series] == [3, 3]
    # The largest value touches the top tick's line, zero the axis.
    ys = [float(p.split(",")[1]) for p in series[1].get("points").split()]
    assert min(ys) < max(ys)
