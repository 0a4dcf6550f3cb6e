"""gridmap's domain and data. No web framework, map builder or CLI code here.

Packages by concern (each one's docstring says what it owns):

- ``geo.boundaries``: the area hierarchy and its generations; the per-generation cache.
- ``geo.matching``: coordinates, H3 cells and the point → grid rule.
- ``geo.reports``: a case's life from intake to closure, routing, dispatch, the trail.
- ``geo.analytics``: the aggregates and hot-spot statistics the maps show.
- ``geo.access``: roles, tokens, the audit, and what the public may see (``privacy``).
- ``geo.models``: the table models; ``geo.migrations``: the Alembic history.

Beside them, the shared kernel every package may use: ``settings`` and ``db`` (built by
the caller, never at import), ``errors`` (every domain exception), ``cityconfig`` (the city's
TOML), ``instants`` and ``text`` (rules for what clients send), ``spatial`` and ``units``
(the one CRS and metre conversions), ``readmodels`` (what map builders are given; no SQL),
``runtime`` and ``migrate``.
"""
