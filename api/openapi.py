"""The OpenAPI document, made correct for clients and fuzzers: every schema it references
resolves, every operation states the roles that may call it (``x-roles``, from the one
permission table) and documents the error envelope it really returns, and the limits it
states are the ones enforced (the city's description limit)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.schemas.reports import ReportIn
from api.security import Require, roles_with
from geo.access.roles import Permission

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "Stable machine-readable identifier."},
            "message": {"type": "string", "description": "What went wrong and what to do; safe to show."},
            "fields": {"type": "array", "items": {
                "type": "object", "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}},
        },
        "additionalProperties": True,
    }},
}
ALWAYS = {"401": "The token sent is not valid", "429": "Too many requests from this client (see Retry-After)"}
WRITES = {"413": "Body too large", "415": "Wrong Content-Type"}


def _calls(dependant):
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def _may_refuse(route: APIRoute) -> bool:
    """Whether some token holder is refused here (403): a permission not every role holds."""
    from geo.access.roles import Role

    return any(isinstance(call, Require) and len(roles_with(call.permission)) < len(Role)
               for call in _calls(route.dependant))


def _roles(route: APIRoute) -> list[str] | None:
    roles: list[str] | None = None
    for call in _calls(route.dependant):
        if isinstance(call, Require):
            roles = list(getattr(call, "roles", None) or roles_with(call.permission))
            if call.permission == Permission.read_reports:
                roles = ["everyone (personal data: dispatcher, admin, worker for own cases)"]
    return roles


def _api_routes(app: FastAPI):
    """(full path, APIRoute) of every route, through included routers (FastAPI ≥ 0.13x wraps
    them; older versions list them flat)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, route
        return
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute):
            yield ctx.path_format, ctx.original_route


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the corrected document (built once, cached)."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        body = ReportIn.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        limit = app.state.city_config.max_description_chars
        body["properties"]["description"]["maxLength"] = limit
        body["properties"]["description"]["description"] = f"What is wrong (at most {limit:,} characters)."
        schemas["ReportIn"] = body
        # A batch item is parsed on its own (a bad one is that item's 422), but has the same shape.
        schemas["BatchIn"]["properties"]["reports"]["items"] = {"$ref": "#/components/schemas/ReportIn"}
        schemas["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, route in _api_routes(app):
            if not route.include_in_schema:
                continue
            roles = _roles(route) or ["everyone"]
            for method in route.methods:
                op = doc["paths"].get(path, {}).get(method.lower())
                if op is None:
                    continue
                op["x-roles"] = roles
                op["description"] = (op.get("description", "") + f"\n\n**Roles:** {', '.join(roles)}.").strip()
                responses = op.setdefault("responses", {})
                extra = dict(ALWAYS)
                if method in ("POST", "PUT", "PATCH") and path.startswith("/api/v1/"):
                    extra.update(WRITES)
                if path.startswith("/api/v1/"):  # api.params.known_query_only
                    extra["422"] = "A field is invalid, or the query holds a parameter this operation does not take"
                if _may_refuse(route):
                    extra["403"] = "This role may not do this (the message lists the roles that may)"
                if "{" in path:
                    extra["404"] = "Nothing has that " + " / ".join(re.findall(r"\{(\w+)", path))
                for code, text in extra.items():
                    responses.setdefault(code, {"description": text})
                for code, resp in responses.items():
                    declared = str(resp.get("content", {}))
                    if code[0] in "45" and ("HTTPValidationError" in declared or not resp.get("content")):
                        resp["content"] = envelope
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
