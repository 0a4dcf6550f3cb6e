"""Class breaks of the count legends (hot-spot density, open cases per area): on skewed
counts every class holds data and the labels are distinct, instead of "1, 2, 3, 4, 5–796"."""

from __future__ import annotations

import numpy as np

from maps.base import COUNT_COLOURS, class_colours, colour_for, count_breaks, count_legend_items


def _skewed() -> list[int]:
    """Most hexagons hold a report or two, a few hot spots hundreds (max 796), as the demo."""
    rng = np.random.default_rng(7)
    return [*np.minimum(rng.zipf(1.8, 5000), 796).tolist(), 796]


def test_skewed_counts_get_log_spaced_classes_that_all_hold_data():
    values = _skewed()
    assert np.quantile(values, 0.75) <= 4, "the data is as skewed as the demo's"
    breaks = count_breaks(values)
    assert breaks == [5, 20, 50, 200, 796]
    assert breaks == sorted(set(breaks)) and breaks[-1] == max(values)
    labels = [label for _, label in count_legend_items(breaks)]
    assert labels == ["1–5", "6–20", "21–50", "51–200", "201–796"]
    # Every class holds some of the data, and the colours differ class to class.
    held = np.searchsorted(breaks, values, side="left")
    assert set(held) == set(range(len(breaks)))
    assert len({colour_for(b, breaks) for b in breaks}) == len(breaks)


def test_every_value_falls_in_a_class_from_min_to_max():
    for values in (_skewed(), list(range(1, 48)), [3] * 10 + [1000], [2, 9, 9, 40, 41, 300]):
        breaks = count_breaks(values)
        assert breaks == sorted(set(breaks)) and breaks[-1] == max(values)
        assert breaks[0] >= min(values)
        assert all(colour_for(v, breaks) != COUNT_COLOURS[0] for v in values)
        held = np.searchsorted(breaks, values, side="left")
        assert set(held) == set(range(len(breaks))), (values, breaks)  # no empty class


def test_small_ranges_give_each_value_its_class():
    assert count_breaks([1, 1, 2, 3]) == [1, 2, 3]
    assert [label for _, label in count_legend_items(count_breaks([1, 1, 2, 3]))] == ["1", "2", "3"]
    assert count_breaks([4, 4, 4]) == [4]
    assert count_breaks([0, 0]) == [0] and count_breaks([]) == [0]


def test_no_one_wide_classes_at_the_bottom_of_a_wide_range():
    breaks = count_breaks(list(range(1, 10)) * 3 + [90])
    labels = [label for _, label in count_legend_items(breaks)]
    assert labels[0] != "1" and labels[1] != "2", labels
    assert len(labels) == len(set(labels))


def test_evenly_spread_counts_keep_quantile_classes():
    """A few streets with similar counts: log spacing would lump them; quantiles separate them."""
    breaks = count_breaks([20, 31, 64, 78, 92, 104])
    assert breaks == [31, 64, 78, 92, 104]
    assert [label for _, label in count_legend_items(breaks)] == ["1–31", "32–64", "65–78", "79–92", "93–104"]


def test_few_classes_spread_over_the_whole_ramp():
    assert class_colours([2, 5, 9]) == [COUNT_COLOURS[0], COUNT_COLOURS[1], COUNT_COLOURS[3], COUNT_COLOURS[5]]
    assert class_colours([5, 20, 50, 200, 796]) == list(COUNT_COLOURS)
    assert colour_for(9, [2, 5, 9]) == COUNT_COLOURS[-1] and colour_for(0, [2, 5, 9]) == COUNT_COLOURS[0]
