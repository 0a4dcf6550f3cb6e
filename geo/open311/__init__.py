"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) in gridmap's terms.

``services``: the catalogue as Open311 services (one per 4-digit subcategory) and the
mapping of gridmap's closed loop onto Open311's ``open``/``closed``. ``requests``: a POSTed
service request as the intake's ``ReportInput`` (registration itself is
``geo.reports.registration.submit_report``, the same as ``POST /api/v1/reports``), the
GET filters as a ``ReportFilter``, and the names of the areas responsible. No web imports:
the routes and the JSON/XML rendering are ``api.routes.open311`` and ``api.schemas.open311``.
"""
