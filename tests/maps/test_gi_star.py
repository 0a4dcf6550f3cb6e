"""Getis-Ord Gi* on synthetic H3 patterns with known answers (no database needed)."""

from __future__ import annotations

import h3
import numpy as np

from geo.analytics import hotspots as hs

CENTRE = h3.latlng_to_cell(41.12, 122.07, 8)  # Panjin, resolution 8 (≈ 0.74 km² cells)


def _area(k: int = 12) -> list[str]:
    return sorted(h3.grid_disk(CENTRE, k))  # 469 cells


def test_known_hotspot_is_found_and_nothing_else_is_hot():
    cells = _area()
    rng = np.random.default_rng(7)
    x = rng.poisson(3.0, len(cells)).astype(float)
    hot = set(h3.grid_disk(h3.grid_ring(CENTRE, 6)[0], 1))  # 7 cells far from the centre
    for i, c in enumerate(cells):
        if c in hot:
            x[i] += 25
    gi = hs.gi_star(x, hs.hex_neighbours(cells, k=1))
    klass = dict(zip(cells, gi.klass))
    z = dict(zip(cells, gi.z))
    ring_centre = h3.grid_ring(CENTRE, 6)[0]
    assert klass[ring_centre] == 3 and z[ring_centre] > 5  # the core of the cluster: 99 %
    assert all(klass[c] > 0 for c in hot)  # the whole cluster is hot
    hot_found = {c for c, k in klass.items() if k > 0}
    # Only the cluster and its immediate ring may light up (their windows include hot cells).
    assert hot_found <= set(h3.grid_disk(ring_centre, 2))
    assert not any(k < -1 for k in klass.values())


def test_uniform_poisson_data_has_no_significant_cells():
    cells = _area()
    for seed in range(5):
        x = np.random.default_rng(seed).poisson(4.0, len(cells)).astype(float)
        gi = hs.gi_star(x, hs.hex_neighbours(cells, k=1))
        assert gi.n_significant == 0, f"seed {seed}: {gi.n_significant} cells flagged on uniform data"


def test_without_fdr_uniform_data_shows_the_multiple_testing_problem():
    cells = _area()
    x = np.random.default_rng(0).poisson(4.0, len(cells)).astype(float)
    raw = hs.gi_star(x, hs.hex_neighbours(cells, k=1), fdr=False)
    assert raw.n_significant > 0  # why FDR is on by default


def test_constant_field_and_tiny_inputs():
    cells = _area(3)
    gi = hs.gi_star(np.full(len(cells), 5.0), hs.hex_neighbours(cells))
    assert gi.n_significant == 0 and np.all(gi.z == 0)
    assert hs.gi_star(np.array([1.0, 2.0]), [np.array([0]), np.array([1])]).n_significant == 0


def test_cold_spot_is_found():
    cells = _area()
    x = np.full(len(cells), 10.0) + np.random.default_rng(3).poisson(2.0, len(cells))
    cold = set(h3.grid_disk(CENTRE, 1))
    for i, c in enumerate(cells):
        if c in cold:
            x[i] = 0
    gi = hs.gi_star(x, hs.hex_neighbours(cells))
    assert dict(zip(cells, gi.klass))[CENTRE] == -3


def test_gi_star_matches_the_textbook_formula():
    cells = _area(4)
    x = np.random.default_rng(1).poisson(5.0, len(cells)).astype(float)
    neigh = hs.hex_neighbours(cells)
    gi = hs.gi_star(x, neigh, fdr=False)
    n, xbar = len(x), x.mean()
    s = np.sqrt((x**2).mean() - xbar**2)
    i = 0
    w = np.zeros(n)
    w[neigh[i]] = 1
    expected = (w @ x - xbar * w.sum()) / (s * np.sqrt((n * (w**2).sum() - w.sum() ** 2) / (n - 1)))
    assert np.isclose(gi.z[i], expected)


def test_resolution_follows_the_extent():
    city = (121.5, 40.6, 122.6, 41.4)  # ≈ 8,200 km² box: 1,590 res-7 cells (5.16 km²), 227 res-6
    assert hs.choose_resolution(city, max_cells=1500) == 6
    assert hs.choose_resolution(city, max_cells=2000) == 7
    district = (122.0, 41.08, 122.12, 41.16)
    assert hs.choose_resolution(district, max_cells=1500) >= 8
    assert hs.choose_resolution(city, max_cells=20_000) > hs.choose_resolution(city, max_cells=1500)
