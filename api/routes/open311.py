"""Open311 GeoReport v2 under ``/open311/v2/``: discovery, services, service definitions and
service requests (POST and GET), each as ``.json`` or ``.xml``, for 12345 hotline systems and
FixMyStreet-style clients.

Requests are answered synchronously with their ``service_request_id`` (the report's id), so
the spec's ``tokens/{token}`` is not needed. Errors on these routes are the spec's error
list (JSON or XML, as the path's format); the rest of the API keeps its own envelope. The
gate's own refusals (an invalid ``Authorization`` token: 401, 413, 429) come before routing
and keep the API envelope.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import CityConfigDep, SessionDep
from api.params import TimeWindow, bounded_window, reject_unknown_query
from api.open311_errors import Open311Route, document_errors
from api.report_views import id_from_key, report_views
from api.routes.reports import audit_reads
from api.schemas.open311 import (
    SPEC_URL,
    DiscoveryOut,
    Open311Error,
    RequestCreatedOut,
    RequestOut,
    ServiceDefinitionOut,
    ServiceOut,
    render,
    request_record,
    service_record,
)
from api.schemas.reports import ReporterIn
from api.security import Require, bearer_scheme
from geo import errors as ge
from geo.access import Permission, Principal
from geo.access.roles import sees_exact_locations
from geo.boundaries.generations import active_generation_id
from geo.open311.requests import (
    MAX_RESULTS,
    check_jurisdiction,
    first_received,
    key_crs,
    parse_ids,
    parse_post,
    parse_service_filter,
    request_window,
    to_report_input,
    area_names,
)
from geo.open311.services import service_definition, service_list, statuses_for
from geo.reports.intake import validate_fields
from geo.reports.queries import ReportFilter, list_reports
from geo.reports.registration import submit_report

PREFIX = "/open311/v2"
FORMATS = ("json", "xml")
CHANGESET = "2026-12-03T00:00:00+08:00"  # when these endpoints last changed (discovery)
router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)

FmtPath = Annotated[str, Path(examples=["json"], description="The format: `json` or `xml` (the spec's suffix).")]
JurisdictionQuery = Annotated[str | None, Query(max_length=64, examples=["211100"], description=(
    "Optional: this city's code (discovery and the README name it) or its name; another is a 404."))]
ApiKeyQuery = Annotated[str | None, Query(max_length=100, examples=["gm_3q2…"], description=(
    "A token (as `Authorization: Bearer` would send it): a staff key reads sensitive cases in full."))]


class Open311Access(Require):
    """``Require``, with the key also taken from ``api_key`` (the POST form's field, or the
    query), as Open311 clients send it; a key that is not valid is a 403."""

    async def __call__(self, request: Request, _: Annotated[object, Depends(bearer_scheme)] = None) -> Principal:
        key = request.query_params.get("api_key")
        if request.method == "POST" and _is_form(request):
            form = await request.form()
            value = form.get("api_key")
            key = value if isinstance(value, str) and value.strip() else key
        if key and key.strip():
            principal = await request.app.state.authenticator.principal(key.strip())
            if principal is None:
                raise ge.Forbidden("this api_key is not valid (unknown, revoked or expired)")
            request.state.principal = principal
        return await Require.__call__(self, request)


def open311_access(permission: Permission):
    return Annotated[Principal, Depends(Open311Access(permission, hint=(
        "an api_key is needed: a system key from `gridmap tokens issue --role system`")))]


def _is_form(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return ctype in ("application/x-www-form-urlencoded", "multipart/form-data")


def _utf8(text: str) -> str:
    """A form value as its sender meant it: the form parser reads bytes that were not
    percent-encoded (``curl -d 'description=垃圾'``) as Latin-1; when they are UTF-8, decode
    them as such (a percent-encoded Latin-1 text is never valid UTF-8 in practice)."""
    if text.isascii() or max(text) > "\xff":
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ge.NotFound(f"no format {fmt!r}: use .json or .xml")
    return fmt


def utcnow() -> datetime:
    return datetime.now(UTC)


def _known_query(request: Request, *names: str) -> None:
    reject_unknown_query(request, frozenset({"jurisdiction_id", "api_key", *names}))


ERRORS = {code: {"model": list[Open311Error], "description": text,
                 "content": {"text/xml": {"example": f"<errors><error><code>{code}</code>"
                                                     "<description>…</description></error></errors>"}}}
          for code, text in ((400, "A field is invalid (named in the description)"),
                             (403, "No api_key, or one that is not valid or may not do this"),
                             (404, "No such service, service request, format or jurisdiction"))}
XML_OK = {"text/xml": {}}


@router.get("/discovery.{fmt}", summary="Open311 discovery", response_model=None,
            responses={200: {"model": DiscoveryOut, "content": XML_OK}, 400: ERRORS[400], 404: ERRORS[404]})
def discovery(request: Request, fmt: FmtPath):
    """Where the GeoReport v2 endpoint is, its formats, and how to get a key."""
    fmt = _check_format(fmt)
    _known_query(request)
    base = str(request.base_url).rstrip("/")
    return render(fmt, "discovery", {
        "changeset": CHANGESET, "contact": "the city's grid-management command centre (the operators of gridmap)",
        "key_service": "ask the operators for a system key: gridmap tokens issue --role system --name … --system …",
        "endpoints": [{"specification": SPEC_URL, "url": base + PREFIX, "changeset": CHANGESET, "type": "production",
                       "formats": ["text/xml", "application/json"]}],
    })


@router.get("/services.{fmt}", summary="Open311 service list", response_model=None,
            responses={200: {"model": list[ServiceOut], "content": XML_OK}, 400: ERRORS[400], 404: ERRORS[404]})
def services(request: Request, fmt: FmtPath, session: SessionDep, config: CityConfigDep,
             jurisdiction_id: JurisdictionQuery = None):
    """One service per subcategory: `service_code` the 4-digit code, `group` its class's name."""
    fmt = _check_format(fmt)
    _known_query(request)
    check_jurisdiction(session, value=jurisdiction_id, city_name=config.name)
    return render(fmt, "services", [service_record(s) for s in service_list(config=config)])


@router.get("/services/{service_code}.{fmt}", summary="Open311 service definition", response_model=None,
            responses={200: {"model": ServiceDefinitionOut, "content": XML_OK}, 400: ERRORS[400], 404: ERRORS[404]})
def service(request: Request, fmt: FmtPath, session: SessionDep, config: CityConfigDep,
            service_code: Annotated[str, Path(max_length=8, examples=["3001"], description="A 4-digit service code.")],
            jurisdiction_id: JurisdictionQuery = None):
    """The service's attributes: no category defines any yet, so the list is empty."""
    fmt = _check_format(fmt)
    _known_query(request)
    check_jurisdiction(session, value=jurisdiction_id, city_name=config.name)
    code, attributes = service_definition(service_code)
    return render(fmt, "service_definition", {"service_code": code, "attributes": attributes})


FORM_FIELDS = {
    "service_code": "Required: a 4-digit code from services.json.",
    "lat": "Required: latitude, WGS-84 decimal degrees (or the crs set on the key, e.g. GCJ-02).",
    "long": "Required: longitude, as `lat`.",
    "address_string": "Accepted, not used: gridmap cannot geocode, so lat/long are required.",
    "address_id": "Accepted, not used (as address_string).",
    "attribute[fixmystreet_id]": "The client's own id of the request: a retry with the same id (from the same key) "
                                 "files nothing new and answers the same service_request_id.",
    "attribute[source]": "Who filed it: citizen (default), hotline_12345, grid_worker, video or other.",
    "description": "What is wrong (at most the city's limit, 2,000 characters by default).",
    "media_url": "A photo's http(s) link; may be repeated (at most 9).",
    "first_name": "The reporter's given name (personal data: never public).",
    "last_name": "The reporter's family name (王 + 小明 is kept as 王小明).",
    "phone": "A number to call back (personal data).",
    "email": "Accepted, not stored.", "device_id": "Accepted, not stored.", "account_id": "Accepted, not stored.",
    "jurisdiction_id": "Optional: this city's code or name.",
    "api_key": "A system key (or `Authorization: Bearer`); required once any token is configured.",
}
FORM_EXAMPLE = {"service_code": "3001", "lat": "41.1231", "long": "122.0773", "description": "小区门口垃圾堆积",
                "first_name": "小明", "last_name": "王", "phone": "13912345678", "attribute[fixmystreet_id]": "1234",
                "jurisdiction_id": "211100", "api_key": "gm_…"}


@router.post(
    "/requests.{fmt}", status_code=201, summary="Open311: file a service request", response_model=None,
    responses={200: {"description": "A retry: the original service_request_id", "model": list[RequestCreatedOut],
                     "content": XML_OK},
               201: {"model": list[RequestCreatedOut], "content": XML_OK}, 400: ERRORS[400], 403: ERRORS[403],
               404: ERRORS[404], 409: {**ERRORS[400], "description": "The client's id was used with another request"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["service_code", "lat", "long"], "examples": [FORM_EXAMPLE],
        "properties": {k: {"type": "string", "description": v} for k, v in FORM_FIELDS.items()}}}}}},
)
async def post_request(
    request: Request, fmt: FmtPath, session: SessionDep, config: CityConfigDep,
    principal: open311_access(Permission.file_batch),
    idempotency_key: Annotated[str | None, Header(max_length=200, examples=["hotline-20261203-0042"], description=(
        "Names the request instead of attribute[fixmystreet_id]; the same key as POST /api/v1/reports takes."))] = None,
):
    """Register a service request, form-encoded as the spec sends it: matched to one grid and
    worker and dispatched by the same intake as POST /api/v1/reports. Answered at once with
    its service_request_id (no tokens). The calling system is recorded on the report."""
    fmt = _check_format(fmt)
    _known_query(request)
    if not _is_form(request):
        raise ge.InvalidInput("send the request form-encoded (application/x-www-form-urlencoded), as the spec does",
                              field="body")
    pairs = []
    for key, value in (await request.form()).multi_items():
        if not isinstance(value, str):
            raise ge.InvalidInput("files are not taken: send photos as media_url links", field=key)
        pairs.append((_utf8(key), _utf8(value)))
    posted = parse_post(pairs)
    ReporterIn(name=posted.reporter_name, phone=posted.phone)  # the JSON intake's rules for the reporter
    outcome = await run_in_threadpool(_register, session, posted, principal, config, idempotency_key)
    request.app.state.metrics.registered_reports("open311", outcome.created)
    notice = ("no grid covers this point: the city command centre handles it" if outcome.grid_code is None
              else f"matched to grid {outcome.grid_code}")
    if outcome.due_at is not None:
        notice += f"; due by {outcome.due_at.astimezone(config.tz).isoformat(timespec='seconds')}"
    if not outcome.created:
        notice = "already registered (a retry); " + notice
    return render(fmt, "service_requests", [{"service_request_id": str(outcome.report_id), "service_notice": notice,
                                             "account_id": None}], status_code=201 if outcome.created else 200)


def _register(session, posted, principal: Principal, config, idempotency_key: str | None):
    check_jurisdiction(session, value=posted.jurisdiction_id, city_name=config.name)
    rid = None
    if idempotency_key:
        rid = id_from_key(idempotency_key)
    elif posted.client_id:  # per calling system: two systems' id 1234 are two requests
        rid = id_from_key(f"open311|{principal.filed_by or 'open'}|{posted.client_id}")
    now = utcnow()
    received = first_received(session, report_id=rid) if rid else None
    item = to_report_input(posted, report_id=rid, crs=key_crs(session, token_id=principal.token_id),
                           received_at=received or now, filed_by=principal.filed_by)
    validate_fields(item, config=config, now=now)
    try:
        outcome = submit_report(session, item=item, config=config, now=now)
    except ge.IdempotencyConflict:
        # A concurrent retry stored it first, at its own time of receipt: compare with that.
        session.rollback()
        stored = first_received(session, report_id=rid) if received is None and rid else None
        if stored is None:
            raise
        outcome = submit_report(session, item=replace(item, reported_at=stored), config=config, now=now)
    session.commit()
    return outcome


def _listing(request: Request, session, principal: Principal, config, filters: ReportFilter) -> list[dict]:
    now = utcnow()
    rows, _total = list_reports(session, filters=filters, now=now, limit=MAX_RESULTS)
    views = report_views(session, rows, viewer=principal, now=now)
    fallback = active_generation_id(session)
    codes: set[tuple[int, str]] = set()
    for v in views:
        gen = v.generation or fallback
        if v.grid_code:
            codes |= {(gen, v.grid_code[:n]) for n in (6, 9, 12, 15) if len(v.grid_code) >= n}
        if v.escalated_to:
            codes.add((gen, v.escalated_to))
    names = area_names(session, codes=codes)
    base = str(request.base_url)
    out = []
    for row, v in zip(rows, views):
        # An unassigned case's (escalated-to) area is named as today's boundaries name it.
        out.append(request_record(v, updated_at=row.updated_at, tz=config.tz, base_url=base,
                                  names=names.get(v.generation or fallback, {})))
    audit_reads(session, principal, rows)
    return out


@router.get("/requests.{fmt}", summary="Open311: service requests", response_model=None,
            responses={200: {"model": list[RequestOut], "content": XML_OK}, 400: ERRORS[400], 403: ERRORS[403],
                       404: ERRORS[404]})
def get_requests(
    request: Request, fmt: FmtPath, session: SessionDep, config: CityConfigDep,
    principal: open311_access(Permission.read_reports),
    service_request_id: Annotated[str | None, Query(max_length=8_000, pattern=r"^[0-9A-Fa-f, -]*$", examples=[
        "7d0f6c2e-4a51-4e4e-9d61-5b7f3c2a9e10,0b4e9f7a-2c1d-4e8f-9a6b-3d5c7e1f2a4b"], description=(
        "Comma-separated ids (about 200 fit in a URL): these requests, whatever the other parameters say "
        "(the spec's rule)."))] = None,
    service_code: Annotated[str | None, Query(max_length=200, pattern=r"^[0-9, ]*$", examples=["3001"], description=(
        "Comma-separated 4-digit service codes (a 2-digit code: the whole class)."))] = None,
    start_date: Annotated[str | None, Query(max_length=40, examples=["2026-11-01T00:00:00+08:00"], description=(
        "Requested at or after this W3C date-time (or date). Default: 90 days before end_date."))] = None,
    end_date: Annotated[str | None, Query(max_length=40, examples=["2026-12-01T00:00:00+08:00"], description=(
        "Requested before this date-time (default: now); the window spans at most 90 days."))] = None,
    status: Annotated[str | None, Query(max_length=20, examples=["open"], description=(
        "open or closed (comma-separated for both; default both)."))] = None,
    jurisdiction_id: JurisdictionQuery = None, api_key: ApiKeyQuery = None,
):
    """Service requests, newest first, at most 1,000, with the public rules of GET
    /api/v1/reports: a sensitive case at its public cell, without its text or photos, for
    those who may not read it in full."""
    fmt = _check_format(fmt)
    _known_query(request, "service_request_id", "service_code", "start_date", "end_date", "status")
    check_jurisdiction(session, value=jurisdiction_id, city_name=config.name)
    exact = sees_exact_locations(principal)
    if service_request_id is not None and service_request_id.strip():
        filters = ReportFilter(ids=parse_ids(service_request_id), exact=exact)
    else:
        since, until = request_window(start_date, end_date, tz=config.tz, now=utcnow())
        window = bounded_window(TimeWindow(since, until), full=principal.can(Permission.full_history), tz=config.tz,
                                now=utcnow(), default_days=None)
        categories, subcategories = parse_service_filter(service_code) if service_code else (None, None)
        filters = ReportFilter(categories=categories, subcategories=subcategories, since=window.since,
                               until=window.until, exact=exact,
                               statuses=statuses_for(status.split(",")) if status else None)
    return render(fmt, "service_requests", _listing(request, session, principal, config, filters))


@router.get("/requests/{service_request_id}.{fmt}", summary="Open311: one service request", response_model=None,
            responses={200: {"model": list[RequestOut], "content": XML_OK}, 400: ERRORS[400], 403: ERRORS[403],
                       404: ERRORS[404]})
def get_request(
    request: Request, fmt: FmtPath, session: SessionDep, config: CityConfigDep,
    principal: open311_access(Permission.read_reports),
    service_request_id: Annotated[str, Path(max_length=64, examples=["7d0f6c2e-4a51-4e4e-9d61-5b7f3c2a9e10"],
                                            description="The service_request_id POST answered.")],
    jurisdiction_id: JurisdictionQuery = None, api_key: ApiKeyQuery = None,
):
    """One service request (a list of one, as the spec has it), by the same rules as the list."""
    fmt = _check_format(fmt)
    _known_query(request)
    check_jurisdiction(session, value=jurisdiction_id, city_name=config.name)
    try:
        rid = uuid.UUID(service_request_id)
    except ValueError:
        raise ge.NotFound(f"no service request {service_request_id[:64]!r}") from None
    out = _listing(request, session, principal, config, ReportFilter(ids=(rid,), exact=sees_exact_locations(principal)))
    if not out:
        raise ge.NotFound(f"no service request {rid}")
    return render(fmt, "service_requests", out)


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def not_found(rest: str):
    raise ge.NotFound(f"no Open311 endpoint {rest[:80]!r}: discovery.json lists them")


def install(app: FastAPI) -> None:
    """Add the routes, and state in the OpenAPI document the error list they answer with
    (call after ``api.openapi.install_openapi``, which states the API envelope elsewhere)."""
    app.include_router(router)
    inner = app.openapi

    def openapi() -> dict:
        if getattr(app.state, "open311_doc", None) is None:
            app.state.open311_doc = document_errors(inner(), prefix=PREFIX)
        return app.state.open311_doc

    app.openapi = openapi


__all__ = ["install", "router"]
