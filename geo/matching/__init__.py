"""Matching: a location → the grid responsible for it, the product's core rule.

Owns: coordinate systems and their conversion to WGS-84 (``coords``: GCJ-02, BD-09, CGCS2000),
H3 cells of points (``cells``), the in-memory matcher built once per generation
(``matcher.GridMatcher``), the rule itself (``rule.match_points``: inside / edge / snapped /
unassigned with the snap distance, the database fallback passed in), and the PostGIS
spelling of the same rule for a single point (``postgis``).

Every caller (intake, batch, import, rematch, locate, dispatch, ``gridmap match``) goes
through ``rule``; a new way of deciding which grid a point is in belongs nowhere else.
"""
