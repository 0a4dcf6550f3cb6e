"""Analytics: what the maps and the command centre show, aggregated before it leaves PostGIS.

Owns: the map queries (``mapdata``: windowed counts, area status, live feeds; they filter
with the listings' ``geo.reports.queries.ReportFilter``), local weeks in the city's time
zone (``weeks``), the
statistics on aggregated counts (``hotspots``: H3 aggregation, Getis-Ord Gi*; numpy, no
SQL), the analyses built from both (``analysis``), and their CSV/GeoJSON downloads
(``exports``). The results are the read models of ``geo.readmodels``, which the map
builders take.

A new number on a map or a new aggregate belongs here; what the public may see of it is
decided by ``geo.access.privacy``.
"""
