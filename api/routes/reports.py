"""Reports: intake (single and batch), the closed loop, ratings and listings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import ApiSettingsDep, CityConfigDep, SessionDep, SessionOpenerDep
from api.errors import FieldError
from api.report_views import created_view, id_from_key, report_view
from api.routes.grids import parse_bbox
from api.errors import validation_fields
from api.schemas.reports import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    RatingIn,
    ReportCreated,
    ReportIn,
    ReportOut,
    ReportPage,
    TransitionIn,
)
from api.security import RequireStaff, StaffFlag
from geo.generations import active_generation_id
from geo.intake import ReportInput, validate_fields
from geo.registration import submit_batch, submit_report
from geo.models import ReportStatus
from geo.report_queries import ReportFilter, area_prefix, list_reports
from geo.categories import SENSITIVE_CATEGORIES
from geo.errors import NotFound
from geo.photos import photo_path, store_photo
from geo.workflow import apply_transition, attach_photo, get_report, rate

router = APIRouter(tags=["reports"])


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_input(body: ReportIn, *, idempotency_key: str | None) -> ReportInput:
    """The API body as the domain's ReportInput (the Idempotency-Key names the id when absent)."""
    rid = body.id or (id_from_key(idempotency_key) if idempotency_key else None)
    return ReportInput(
        id=rid, category=body.category, subcategory=body.subcategory, description=body.description,
        source=body.source, x=body.location.lon, y=body.location.lat, crs=body.location.crs,
        accuracy_m=body.location.accuracy_m, reported_at=body.reported_at,
        reporter_name=body.reporter.name if body.reporter else None,
        reporter_phone=body.reporter.phone if body.reporter else None, photos=tuple(body.photos),
    )


_REPORT_IN = TypeAdapter(ReportIn)
_CREATED = TypeAdapter(ReportCreated)
_BATCH_OUT = TypeAdapter(BatchOut)


@router.post(
    "/reports", status_code=201, response_model=ReportCreated,
    responses={200: {"description": "A retry: the original result"}, 409: {"description": "Id reused with another body"},
               413: {"description": "Body too large"}, 422: {"description": "Invalid field"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": ReportIn.model_json_schema()}}}},
)
async def post_report(
    request: Request, config: CityConfigDep, open_session: SessionOpenerDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
):
    """Register a report: converted to WGS-84, matched to one grid and worker, dispatched."""
    return await intake(request, config=config, open_session=open_session, idempotency_key=idempotency_key)


async def post_report_direct(request: Request) -> Response:
    """``post_report`` as a plain Starlette endpoint, for the micro-batched production path.

    The app factory puts it in front of the documented FastAPI route when intake batching is
    on: FastAPI's routing and dependency resolution cost about a third of a report's HTTP
    handling. Same function underneath, same errors (the app's handlers map them)."""
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > 200:
        raise FieldError("idempotency-key", "at most 200 characters")
    return await intake(request, config=request.app.state.city_config, open_session=request.app.state.sessionmaker,
                        idempotency_key=key)


async def intake(request: Request, *, config, open_session, idempotency_key: str | None) -> Response:
    """The intake route's body. The hottest path of the service, so it parses its JSON itself
    (pydantic-core, straight from bytes) and writes its answer itself: FastAPI's body and
    response-model handling cost more per report than the registration's own Python."""
    try:
        body = _REPORT_IN.validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    item = to_input(body, idempotency_key=idempotency_key)
    now = utcnow()
    validate_fields(item, config=config, now=now)  # bad input answers at once, never waits in a batch
    batcher = request.app.state.intake_batcher
    if batcher is not None:
        outcome = await batcher.submit(item)
    else:
        outcome = await run_in_threadpool(_register_one, open_session, item, config, now)
    if outcome.error is not None:
        raise outcome.error
    return Response(_CREATED.dump_json(created_view(outcome)), status_code=201 if outcome.created else 200,
                    media_type="application/json")


def _register_one(open_session, item, config, now):
    with open_session() as session:
        outcome = submit_report(session, item=item, config=config, now=now)
        session.commit()
        return outcome


@router.post("/reports/batch", response_model=BatchOut)
def post_batch(
    body: BatchIn, session: SessionDep, config: CityConfigDep,
    duplicates: Annotated[bool, Query(description="List possible duplicates per item (slower).")] = False,
):
    """Up to 10,000 reports; each item is validated and answered on its own (201, 200, 409 or 422),
    so one bad item never sinks the others. Items are matched exactly like single reports."""
    parsed, results = [], {}
    for index, raw in enumerate(body.reports):
        try:
            parsed.append((index, to_input(_REPORT_IN.validate_python(raw), idempotency_key=None)))
        except ValidationError as exc:
            fields = validation_fields(exc.errors())
            results[index] = BatchItemOut(index=index, status=422, error={
                "code": "invalid_request", "message": "; ".join(f"{f['field']}: {f['reason']}" for f in fields),
                "fields": fields})
    for o in submit_batch(session, items=parsed, config=config, now=utcnow(), duplicates=duplicates):
        if o.error is not None:
            err = {"code": "invalid_request" if o.status == 422 else o.error.code, "message": o.error.message}
            if "field" in o.error.details:
                err["fields"] = [{"field": o.error.details["field"], "reason": o.error.message}]
            results[o.index] = BatchItemOut(index=o.index, status=o.status, error=err)
        else:
            results[o.index] = BatchItemOut(index=o.index, status=o.status, report=created_view(o))
    session.commit()
    items = [results[i] for i in sorted(results)]
    out = BatchOut(created=sum(r.status == 201 for r in items), replayed=sum(r.status == 200 for r in items),
                   failed=sum(r.status >= 400 for r in items), results=items)
    # Serialised here: returned as a model, FastAPI would validate 10,000 items a second time.
    return Response(_BATCH_OUT.dump_json(out), media_type="application/json")


@router.get("/reports/{report_id}", response_model=ReportOut)
def get_one(report_id: uuid.UUID, session: SessionDep, staff: StaffFlag):
    """One report with its full trail ("one work order all the way")."""
    report = get_report(session, report_id=report_id)
    return report_view(session, report, staff=staff, now=utcnow(), with_trail=True)


@router.get("/reports", response_model=ReportPage)
def get_many(
    request: Request, session: SessionDep, settings: ApiSettingsDep, staff: StaffFlag,
    area: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,3}$", description="Any hierarchy code")] = None,
    category: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    status: ReportStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    overdue: bool = False,
    unassigned: bool = False,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """Reports newest first, filtered by area (any ancestor code), category, status, time, bbox."""
    if limit is not None and limit > settings.max_page_size:
        raise FieldError("limit", f"must be at most {settings.max_page_size}")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise FieldError(name, "must include a timezone offset")
    page = limit or settings.page_size
    prefix = area_prefix(session, code=area, generation=active_generation_id(session)) if area else None
    filters = ReportFilter(area_prefix=prefix, category=category, status=status, since=since, until=until,
                           bbox=parse_bbox(bbox), overdue=overdue, unassigned=unassigned)
    now = utcnow()
    rows, total = list_reports(session, filters=filters, now=now, limit=page, offset=offset)
    nxt = str(request.url.include_query_params(offset=offset + page, limit=page)) if offset + len(rows) < total else None
    return ReportPage(items=[report_view(session, r, staff=staff, now=now) for r in rows],
                      numberMatched=total, numberReturned=len(rows), next=nxt)


@router.post("/reports/{report_id}/transitions", response_model=ReportOut,
             responses={409: {"description": "Illegal transition; `allowed` lists the legal actions"}})
def post_transition(report_id: uuid.UUID, body: TransitionIn, session: SessionDep, config: CityConfigDep,
                    staff: RequireStaff):
    """Move a report through the loop; illegal moves are 409 with the allowed actions."""
    now = utcnow()
    report = apply_transition(session, report_id=report_id, action=body.action, actor=body.actor, note=body.note,
                              config=config, now=now, duplicate_of=body.duplicate_of, worker_id=body.worker_id)
    session.commit()
    return report_view(session, report, staff=staff, now=now, with_trail=True)


@router.post("/reports/{report_id}/rating", response_model=ReportOut)
def post_rating(report_id: uuid.UUID, body: RatingIn, session: SessionDep):
    """The reporter rates a closed case 1–5, once."""
    now = utcnow()
    report = rate(session, report_id=report_id, rating=body.rating, comment=body.comment, now=now)
    session.commit()
    return report_view(session, report, staff=False, now=now)


@router.post("/reports/{report_id}/photos", response_model=ReportOut, status_code=201)
def post_photo(
    report_id: uuid.UUID, session: SessionDep, config: CityConfigDep, settings: ApiSettingsDep, staff: StaffFlag,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP; stored without EXIF or other metadata.")],
):
    """Attach a photo. Location, camera and every other metadata are stripped before storing."""
    report = get_report(session, report_id=report_id)
    name = store_photo(settings.media_dir, report_id=report.id, data=photo.file.read())
    now = utcnow()
    report = attach_photo(session, report_id=report.id, url=f"/api/v1/reports/{report.id}/photos/{name}",
                          config=config, now=now)
    session.commit()
    return report_view(session, report, staff=staff, now=now)


@router.get("/reports/{report_id}/photos/{name}", response_class=FileResponse)
def get_photo(report_id: uuid.UUID, name: str, session: SessionDep, settings: ApiSettingsDep, staff: StaffFlag):
    """A stored photo; photos of sensitive cases are for staff only."""
    report = get_report(session, report_id=report_id)
    path = photo_path(settings.media_dir, report_id=report.id, name=name)
    url = f"/api/v1/reports/{report.id}/photos/{name}"
    if path is None or url not in report.photos or (report.category in SENSITIVE_CATEGORIES and not staff):
        raise NotFound("no such photo", report_id=str(report_id))
    return FileResponse(path)
