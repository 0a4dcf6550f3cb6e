"""Boundaries: the area hierarchy (city → district → street → community → grid) and its
generations (MapIt's draft → active → retired), read and checked.

Owns: the hierarchy's rules (``hierarchy``: levels, their order, code-prefix lengths; no
database), reading areas and their workers (``areas``), generations and validity
(``generations``), the tiling checks planners rely on (``topology``), file export
(``export``), and the one cache every per-generation value goes through (``cache``), keyed
so an edited draft is never served stale.

A new rule about where areas are, how they nest or when a generation is valid belongs here.
Nothing here knows about reports. Importing the package loads nothing: maps import
``geo.boundaries.hierarchy`` without SQLAlchemy.
"""
