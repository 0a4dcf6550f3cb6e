"""Authorisation for routes: each route states the permission it needs, from the one table
in ``geo.access.roles``; the OpenAPI document lists the roles holding it (``x-roles``).

- ``require(Permission.x)``: a dependency giving the request's Principal, or 401 (no token,
  the permission needs one) / 403 (this role may not).
- ``case_access(Permission.x)``: the same for a route about one case: a valid
  ``X-Case-Token`` for that case makes an anonymous caller its reporter; a wrong one is a 401.
- Scoped rules (a worker's own cases, a reporter's own case) are the domain's
  (``geo.access.may_*``), checked by the routes once the case is loaded.
"""

from __future__ import annotations

import threading
import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.params import ReportIdPath
from geo.access.case_tokens import check_case_token, load_secret
from geo.access.roles import PERMISSIONS, PUBLIC, SCOPED, Permission, Principal, Role
from geo.errors import Forbidden, Unauthorized

# Documents the scheme in OpenAPI (the gate, api.gate with api.auth, does the work).
bearer_scheme = HTTPBearer(auto_error=False, description="A token from `gridmap tokens issue` (or GRIDMAP_STAFF_TOKENS).")


def principal_of(request: Request) -> Principal:
    """The request's principal, as ``api.gate`` resolved it before routing."""
    return getattr(request.state, "principal", PUBLIC)


async def get_principal(request: Request) -> Principal:
    """Dependency: the request's principal (``principal_of``)."""
    return principal_of(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


_SCOPE_WORDS = {(Role.worker, Permission.report_position): "own position",
                (Role.system, Permission.read_filed): "what it filed",
                (Role.system, Permission.manage_webhooks): "its own webhooks",
                (Role.system, Permission.read_webhooks): "its own webhooks",
                (Role.reporter, Permission.rate_case): "own case, X-Case-Token",
                (Role.reporter, Permission.upload_photo): "own case, X-Case-Token"}


def roles_with(permission: Permission) -> list[str]:
    """Roles holding ``permission``, scoped ones marked (for the OpenAPI document)."""
    out = []
    for role, perms in PERMISSIONS.items():
        if permission in perms:
            scoped = permission in SCOPED.get(role, ())
            out.append(f"{role.value} ({_SCOPE_WORDS.get((role, permission), 'own cases')})" if scoped else role.value)
    return out


class Require:
    """Dependency: the principal, if it holds ``permission`` (at least for some cases)."""

    def __init__(self, permission: Permission, *, hint: str | None = None) -> None:
        self.permission = permission
        self.hint = hint

    async def __call__(self, request: Request, _: Annotated[object, Depends(bearer_scheme)] = None) -> Principal:
        principal = principal_of(request)
        if principal.can(self.permission):
            return principal
        who = ", ".join(roles_with(self.permission))
        if principal.role == Role.public:
            raise Unauthorized(self.hint or f"this needs a token of one of these roles: {who}")
        raise Forbidden(f"a {principal.role.value} may not do this ({self.permission.value}); roles that may: {who}")


def require(permission: Permission, *, hint: str | None = None):
    """``Annotated[Principal, Depends(Require(permission))]`` for a route parameter."""
    return Annotated[Principal, Depends(Require(permission, hint=hint))]


_secret_lock = threading.Lock()


def case_secret(request: Request) -> bytes:
    """The case-token secret, loaded (or made) once per process."""
    app = request.app
    secret = getattr(app.state, "case_secret", None)
    if secret is None:
        with _secret_lock:
            secret = getattr(app.state, "case_secret", None)
            if secret is None:
                with app.state.sessionmaker() as session:
                    secret = load_secret(session, configured=app.state.api_settings.secret_key)
                    session.commit()
                app.state.case_secret = secret
    return secret


def case_principal(request: Request, principal: Principal, report_id: uuid.UUID, token: str | None) -> Principal:
    """``principal``, or the reporter of ``report_id`` when an anonymous caller sends its
    case token. Raises Unauthorized for a token that does not open this case."""
    if token is None or principal.role != Role.public:
        return principal
    if not check_case_token(case_secret(request), report_id, token):
        raise Unauthorized("this case token does not open this case")
    return Principal(Role.reporter, holder=f"reporter of {report_id}", case_id=report_id, open=principal.open)


class CaseRequire(Require):
    """Like ``Require``, for a route about one case: a valid ``X-Case-Token`` for that case
    first makes an anonymous caller its reporter."""

    async def __call__(
        self, request: Request, report_id: ReportIdPath,
        x_case_token: Annotated[str | None, Header(max_length=64, examples=["c1b2a3d4e5f6a7b8c9d0e1f2a3b4c5d6"], description=(
            "The case token intake returned: makes you this case's reporter (to follow it, rate it, add "
            "photos)."))] = None,
        _: Annotated[object, Depends(bearer_scheme)] = None,
    ) -> Principal:
        principal = principal_of(request)
        if x_case_token is not None and principal.role == Role.public:
            principal = await run_in_threadpool(case_principal, request, principal, report_id, x_case_token)
            request.state.principal = principal
        return await Require.__call__(self, request)


def case_access(permission: Permission, *, hint: str | None = None):
    """``Annotated[Principal, Depends(CaseRequire(permission))]`` for a route about one case."""
    return Annotated[Principal, Depends(CaseRequire(permission, hint=hint))]


WORKER_HINT = "this needs a worker token (sign in on a phone at /worker/login)"


class RequireWorker(Require):
    """Dependency: the principal of a worker token (role worker, with its worker id): a
    worker's own resources ("my cases"). 401 for the public, 403 for every other role."""

    roles = ["worker (own queue)"]  # what the OpenAPI document lists (api.openapi)

    def __init__(self) -> None:
        super().__init__(Permission.move_case, hint=WORKER_HINT)

    async def __call__(self, request: Request, _: Annotated[object, Depends(bearer_scheme)] = None) -> Principal:
        principal = principal_of(request)
        if principal.role == Role.worker and principal.worker_id is not None:
            return principal
        if principal.role in (Role.public, Role.reporter):
            raise Unauthorized(WORKER_HINT)
        raise Forbidden(f"a {principal.role.value} has no queue of its own: only a worker token (with its worker) has")


WorkerDep = Annotated[Principal, Depends(RequireWorker())]
