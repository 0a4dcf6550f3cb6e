"""Mapbox Vector Tiles (WebMercatorQuad, z/x/y) of the boundary levels and the report
aggregates, built in PostGIS with ST_AsMVT / ST_AsMVTGeom / ST_TileEnvelope.

``addressing``: tile numbers, bounds and the H3 resolution per zoom; ``layers``: what each
tile layer holds; ``areas`` / ``hexagons``: the tile queries; ``cache``: the byte-bounded LRU
and ETags; ``service``: one call from an address to the bytes to send, and TileJSON.
"""
