"""The worker's phone pages (``/worker``): sign in with the worker's token, the queue, and a
page per case with its actions, photos and "share my position".

Plain pages like the reporter's (``api.routes.report_form``): the scripts are static files
(``api/static/worker.js``; the CSP allows no inline script), Leaflet is the app's own copy
under ``/assets``, and the data comes from the API in the browser (``/api/v1/me/cases`` with
its ETag, ``/api/v1/reports/{id}``), so a page itself holds nothing of a case. Signing in
sets the same HttpOnly, SameSite=Strict staff cookie as ``/maps/login``: no other site's
request carries it, so the API calls the page makes need no token in script.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import STAFF_COOKIE, keep_signed_in
from api.deps import SessionDep
from api.headers import html_headers
from api.params import ReportIdPath
from api.routes.report_form import STATIC, TEMPLATES
from api.security import RequireWorker, bearer_scheme, principal_of
from geo.access.roles import Principal, Role
from geo.reports.workflow import get_report

router = APIRouter(tags=["maps"])
WORKER_JS = STATIC / "worker.js"


def is_worker(p: Principal) -> bool:
    """Whether ``p`` is a worker token's principal (the only one with a queue)."""
    return p.role == Role.worker and p.worker_id is not None


class WorkerPage(RequireWorker):
    """Dependency for the pages: the principal, whoever it is (the page answers 401/403 with
    the sign-in form itself); documents the pages as the worker's."""

    async def __call__(self, request: Request, _: Annotated[object, Depends(bearer_scheme)] = None) -> Principal:
        return principal_of(request)


WorkerPageDep = Annotated[Principal, Depends(WorkerPage())]


@lru_cache(maxsize=8)
def _template(name: str) -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    return env.get_template(name)


def _html(request: Request, html: str, *, status: int = 200) -> HTMLResponse:
    headers = html_headers(html, img_sources=request.app.state.map_settings.tile_origins())
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store", **headers})


def _sign_in(request: Request, principal: Principal, *, next_path: str, error: str | None = None) -> HTMLResponse:
    """The sign-in form: 401 for the public, 403 for a signed-in role that has no queue."""
    wrong_role = principal.role not in (Role.public, Role.reporter)
    page = _template("worker_login.html").render(next_path=next_path, error=error,
                                                 role=principal.role.value if wrong_role else None)
    return _html(request, page, status=403 if wrong_role else 401)


PAGE = {200: {"content": {"text/html": {}}, "description": "The page"},
        401: {"content": {"text/html": {}, "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
              "description": "Not signed in: the sign-in form (an unknown, revoked or expired token: the JSON error)"},
        403: {"content": {"text/html": {}}, "description": "Signed in with a token that is not a worker's: the form"}}


@router.get("/worker", response_class=HTMLResponse, name="worker_queue", summary="The worker's phone: my cases",
            responses=PAGE)
def worker_queue_page(request: Request, principal: WorkerPageDep):
    """The worker's queue on a phone (data from GET /api/v1/me/cases); the sign-in form for
    anyone without a worker token."""
    if not is_worker(principal):
        return _sign_in(request, principal, next_path="/worker")
    return _html(request, _template("worker.html").render(page="queue", report_id="", data=_data(request)))


@router.get("/worker/cases/{report_id}", response_class=HTMLResponse, name="worker_case",
            summary="The worker's phone: one case", responses={**PAGE, 404: {"description": "No such report"},
                                                      422: {"description": "Not a report id (a UUID)"}})
def worker_case_page(request: Request, session: SessionDep, principal: WorkerPageDep, report_id: ReportIdPath):
    """One case on the worker's phone: details, a small map, the trail, the actions the
    worker may take, photos; the sign-in form for anyone without a worker token."""
    path = f"/worker/cases/{report_id}"
    if not is_worker(principal):
        return _sign_in(request, principal, next_path=path)
    get_report(session, report_id=report_id)  # 404 for an unknown id
    return _html(request, _template("worker.html").render(page="case", report_id=str(report_id),
                                                          data=_data(request)))


def _data(request: Request) -> dict:
    return {"tiles": [asdict(spec) for spec in request.app.state.map_settings.tile_layers()]}


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a page of /worker only (never another site)."""
    if value and (value == "/worker" or value.startswith("/worker/cases/")) and "//" not in value \
            and all(ch.isalnum() or ch in "/-" for ch in value):
        return value
    return "/worker"


@router.post("/worker/login", include_in_schema=False)
async def worker_login(request: Request, token: Annotated[str, Form(max_length=512)],
                       next_path: Annotated[str | None, Form(alias="next", max_length=200)] = None):
    """Check that ``token`` is a worker's and keep it in the staff cookie; then open the queue
    (or the case page the worker was sent to)."""
    principal = await request.app.state.authenticator.principal(token.strip())
    target = _safe_next(next_path)
    if principal is None or principal.open or not is_worker(principal):
        return _sign_in(request, Principal(Role.public), next_path=target,
                        error="这不是网格员的令牌 That is not a worker's token.")
    return keep_signed_in(RedirectResponse(target, status_code=303), token=token.strip(),
                          https=request.url.scheme == "https")


@router.get("/worker/login", response_class=HTMLResponse, include_in_schema=False)
def worker_login_form(request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=200)] = None):
    """The sign-in form on its own (200), e.g. to switch to another worker's token."""
    page = _template("worker_login.html").render(next_path=_safe_next(next_path), error=None, role=None)
    return _html(request, page)


@router.post("/worker/logout", include_in_schema=False)
def worker_logout():
    """Forget the sign-in on this phone (a shared phone at the end of a shift)."""
    response = RedirectResponse("/worker/login", status_code=303)
    response.delete_cookie(STAFF_COOKIE, httponly=True, samesite="strict")
    return response
