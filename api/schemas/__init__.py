"""Request and response schemas, one module per resource. Table models live in ``geo.models``."""

from api.schemas.areas import (
    AreaCollection,
    AreaDetailFeature,
    AreaDetailProperties,
    AreaFeature,
    AreaProperties,
    HealthOut,
    Link,
    LocateOut,
    PathItem,
    PublicWorkerOut,
)

__all__ = [
    "AreaCollection",
    "AreaDetailFeature",
    "AreaDetailProperties",
    "AreaFeature",
    "AreaProperties",
    "HealthOut",
    "Link",
    "LocateOut",
    "PathItem",
    "PublicWorkerOut",
]
