"""/metrics: the service's figures in Prometheus text format (``api.metrics``), for an admin
token or the scrape token (``GRIDMAP_METRICS_TOKEN``, recognised by ``api.gate`` on this
path only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE  # every Prometheus reads it

from api.deps import SessionOpenerDep
from api.metrics import SCRAPE_FLAG
from api.security import Require, bearer_scheme, principal_of
from geo.access import Permission
from geo.access.roles import Principal

router = APIRouter(tags=["operations"])


class MetricsRequire(Require):
    """``Require(read_metrics)``, or the scrape token."""

    async def __call__(self, request: Request, _: Annotated[object, Depends(bearer_scheme)] = None) -> Principal:
        if getattr(request.state, SCRAPE_FLAG, False):
            return principal_of(request)
        return await Require.__call__(self, request)


MetricsReader = Annotated[Principal, Depends(MetricsRequire(Permission.read_metrics, hint=(
    "this needs an admin token, or the scrape token (GRIDMAP_METRICS_TOKEN), as Authorization: Bearer")))]


@router.get("/metrics", summary="Operating figures (Prometheus text format)", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition (format 0.0.4)"},
                       401: {"description": "No token, or one that is not valid"},
                       403: {"description": "A token of a role that may not read metrics"}})
def get_metrics(request: Request, open_session: SessionOpenerDep, _: MetricsReader) -> Response:
    """Intake, queue, escalation, backlog and HTTP figures; names and meanings in
    docs/README.ops.md. The database figures are at most GRIDMAP_METRICS_CACHE_S seconds old.
    Besides an admin token, the scrape token (GRIDMAP_METRICS_TOKEN) reads it."""
    metrics = request.app.state.metrics
    metrics.refresh(open_session)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE)
