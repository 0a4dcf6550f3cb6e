"""Reports: intake (single and batch), the closed loop, ratings, photos and listings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Header, Path, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import ApiSettingsDep, CityConfigDep, SessionDep, SessionOpenerDep
from api.errors import OUTCOME_STATUS, FieldError, domain_error, invalid_fields, validation_fields
from api.params import (
    AreaQuery,
    OverdueQuery,
    StatusQuery,
    UnassignedQuery,
    listing_filter,
    BBoxQuery,
    CategoryQuery,
    LimitQuery,
    OffsetQuery,
    ReportIdPath,
    WindowDep,
    decode_report_cursor,
    report_cursor,
    page_size,
    reject_unknown_query,
)
from api.report_views import created_view, id_from_key, report_view, report_views, shows_duplicates
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
from api.security import case_access, case_secret, principal_of, require
from geo.access import Permission, Principal, may_read_personal, may_see_photos, may_upload_photo, record_audit
from geo.access.case_tokens import case_token
from geo.errors import Forbidden, InvalidInput, NotFound
from geo.instants import parse_instant
from geo.reports.intake import ReportInput, validate_fields
from geo.reports.photos import clean_image, photo_name, photo_path, remove_photo, write_photo
from geo.reports.queries import list_reports
from geo.reports.outcomes import BatchOutcome, Outcome
from geo.reports.registration import submit_batch, submit_report
from geo.reports.workflow import add_photo, apply_transition, get_report, lock_for_photo, rate

router = APIRouter(tags=["reports"])
RATE_HINT = "rating a case needs its case token (X-Case-Token) or a dispatcher's token"
PHOTO_HINT = "adding a photo needs this case's token (X-Case-Token), or the token of its worker or a dispatcher"

ERRORS = {401: {"description": "A token is needed (or the one sent is not valid)"},
          403: {"description": "This role may not do this"},
          404: {"description": "No such report"}, 422: {"description": "Invalid field"}}


def utcnow() -> datetime:
    return datetime.now(UTC)


def photo_url(report_id: uuid.UUID, name: str) -> str:
    """The link a stored photo is recorded under in ``report.photos`` (served by get_photo)."""
    return f"/api/v1/reports/{report_id}/photos/{name}"


def to_input(body: ReportIn, *, idempotency_key: str | None, filed_by: str | None = None) -> ReportInput:
    """The API body as the domain's ReportInput (the Idempotency-Key names the id when absent)."""
    rid = body.id or (id_from_key(idempotency_key) if idempotency_key else None)
    return ReportInput(
        id=rid, category=body.category, subcategory=body.subcategory, description=body.description,
        source=body.source, x=body.location.lon, y=body.location.lat, crs=body.location.crs,
        accuracy_m=body.location.accuracy_m, reported_at=parse_instant(body.reported_at, field="reported_at"),
        reporter_name=body.reporter.name if body.reporter else None,
        reporter_phone=body.reporter.phone if body.reporter else None, photos=tuple(body.photos),
        filed_by=filed_by,
    )


_REPORT_IN = TypeAdapter(ReportIn)
_CREATED = TypeAdapter(ReportCreated)
_BATCH_OUT = TypeAdapter(BatchOut)


def token_for(request: Request, o: BatchOutcome, *, principal: Principal, idempotency_key: str | None) -> str | None:
    """The case token to answer ``o`` with: always for a new report; for a replay only to
    whoever proves they sent the original (the same Idempotency-Key, whose id is derived
    from it, or the same token holder): report ids are public, so an id alone proves nothing."""
    if o.report_id is None:
        return None
    if not o.created:
        same_key = idempotency_key is not None and id_from_key(idempotency_key) == o.report_id
        same_holder = principal.filed_by is not None and principal.filed_by == o.filed_by
        if not (same_key or same_holder):
            return None
    return case_token(case_secret(request), o.report_id)


@router.post(
    "/reports", status_code=201, response_model=ReportCreated, summary="File a report",
    responses={200: {"description": "A retry: the original result", "model": ReportCreated},
               409: {"description": "Id reused with another body"}, 413: {"description": "Body too large"},
               415: {"description": "Not JSON"}, 422: {"description": "Invalid field"},
               429: {"description": "Too many requests"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ReportIn"}}}}},
)
async def post_report(
    request: Request, config: CityConfigDep, open_session: SessionOpenerDep,
    idempotency_key: Annotated[str | None, Header(max_length=200, examples=["form-3f9a2c1e"], description=(
        "Names the report instead of `id`: a retry with the same key returns the original answer, "
        "case token included."))] = None,
):
    """Register a report: converted to WGS-84, matched to one grid and worker, dispatched.
    The answer carries the case token, the reporter's key to the case."""
    return await intake(request, config=config, open_session=open_session, idempotency_key=idempotency_key)


async def post_report_direct(request: Request) -> Response:
    """``post_report`` as a plain Starlette endpoint, for the micro-batched production path.

    The app factory puts it in front of the documented FastAPI route when intake batching is
    on: FastAPI's routing and dependency resolution cost about a third of a report's HTTP
    handling. Same function underneath, same errors (the app's handlers map them)."""
    reject_unknown_query(request, frozenset())  # as the documented route, which takes none
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
    principal = principal_of(request)
    item = to_input(body, idempotency_key=idempotency_key, filed_by=principal.filed_by)
    now = utcnow()
    validate_fields(item, config=config, now=now)  # bad input answers at once, never waits in a batch
    batcher = request.app.state.intake_batcher
    if batcher is not None:
        outcome = await batcher.submit(item)
    else:
        outcome = await run_in_threadpool(_register_one, open_session, item, config, now)
    if outcome.error is not None:
        raise outcome.error
    token = token_for(request, outcome, principal=principal, idempotency_key=idempotency_key)
    view = created_view(outcome, case_token=token, duplicates=shows_duplicates(principal, item.category))
    return Response(_CREATED.dump_json(view), status_code=OUTCOME_STATUS[outcome.kind], media_type="application/json")


def _register_one(open_session, item, config, now):
    with open_session() as session:
        outcome = submit_report(session, item=item, config=config, now=now)
        session.commit()
        return outcome


@router.post("/reports/batch", response_model=BatchOut, summary="File up to 10,000 reports",
             responses={401: ERRORS[401], 403: ERRORS[403], 422: ERRORS[422], 413: {"description": "Body too large"},
                        415: {"description": "Not JSON"}})
def post_batch(
    request: Request, body: BatchIn, session: SessionDep, config: CityConfigDep,
    principal: require(Permission.file_batch),
    duplicates: Annotated[bool, Query(examples=[True], description=(
        "List possible duplicates per new item (open reports of its category within 250 m; slower)."))] = False,
):
    """Up to 10,000 reports; each item is validated and answered on its own (201, 200, 409 or 422),
    so one bad item never sinks the others. Items are matched exactly like single reports."""
    parsed, results = [], {}
    for index, raw in enumerate(body.reports):
        try:
            parsed.append((index, to_input(_REPORT_IN.validate_python(raw), idempotency_key=None,
                                           filed_by=principal.filed_by)))
        except ValidationError as exc:
            results[index] = BatchItemOut(index=index, status=OUTCOME_STATUS[Outcome.invalid],
                                          error=invalid_fields(validation_fields(exc.errors())))
        except InvalidInput as exc:  # a rule of geo's, applied while converting (reported_at)
            results[index] = BatchItemOut(index=index, status=OUTCOME_STATUS[Outcome.invalid],
                                          error=domain_error(exc)[1])
    parsed_by = dict(parsed)
    for o in submit_batch(session, items=parsed, config=config, now=utcnow(), duplicates=duplicates):
        if o.error is not None:
            results[o.index] = BatchItemOut(index=o.index, status=OUTCOME_STATUS[o.kind], error=domain_error(o.error)[1])
        else:
            token = token_for(request, o, principal=principal, idempotency_key=None)
            view = created_view(o, case_token=token, duplicates=shows_duplicates(principal, parsed_by[o.index].category))
            results[o.index] = BatchItemOut(index=o.index, status=OUTCOME_STATUS[o.kind], report=view)
    session.commit()
    items = [results[i] for i in sorted(results)]
    out = BatchOut(created=sum(r.status == 201 for r in items), replayed=sum(r.status == 200 for r in items),
                   failed=sum(r.status >= 400 for r in items), results=items)
    # Serialised here: returned as a model, FastAPI would validate 10,000 items a second time.
    return Response(_BATCH_OUT.dump_json(out), media_type="application/json")


def audit_reads(session, principal: Principal, reports) -> None:
    """Record that ``principal`` was shown the personal data of these reports."""
    ids = [str(r.id) for r in reports if may_read_personal(principal, r)]
    if ids:
        record_audit(session, actor=principal, action="personal.read", subject_type="report",
                     subject_id=ids[0] if len(ids) == 1 else None, detail={"report_ids": ids})
        session.commit()


@router.get("/reports/{report_id}", response_model=ReportOut, summary="One report with its trail", responses=ERRORS)
def get_one(report_id: ReportIdPath, session: SessionDep, principal: case_access(Permission.read_reports)):
    """One report with its full trail ("one work order all the way"). Personal data for the
    roles that may read it (the read is audited); a reporter's case token shows their own
    case's photos."""
    report = get_report(session, report_id=report_id)
    out = report_view(session, report, viewer=principal, now=utcnow(), with_trail=True)
    audit_reads(session, principal, [report])
    return out


@router.get("/reports", response_model=ReportPage, summary="List reports",
            responses={401: ERRORS[401], 404: {"description": "No such area"}, 422: ERRORS[422]})
def get_many(
    request: Request, session: SessionDep, settings: ApiSettingsDep, principal: require(Permission.read_reports),
    window: WindowDep,
    area: AreaQuery = None,
    category: CategoryQuery = None,
    status: StatusQuery = None,
    bbox: BBoxQuery = None,
    overdue: OverdueQuery = False,
    unassigned: UnassignedQuery = False,
    filed_by: Annotated[str | None, Query(pattern="^me$", examples=["me"], description=(
        "`me`: only the reports filed with your token (a system key reads what it filed)."))] = None,
    limit: LimitQuery = None,
    offset: OffsetQuery = 0,
    after: Annotated[str | None, Query(max_length=200, examples=["MjAyNi0xMS0yMlQwMTozMDowMCswMDowMHw3ZDBm"],
                                       description="Keyset cursor: what the `next` link carries.")] = None,
):
    """Reports newest first, filtered by area (any ancestor code), category, status, time, bbox.
    The bbox tests what the caller may see: a sensitive case's public cell, unless the caller
    may read exact locations."""
    page = page_size(limit, default=settings.page_size, maximum=settings.max_page_size)
    if filed_by == "me" and (principal.filed_by is None or not principal.can(Permission.read_filed)):
        raise FieldError("filed_by", "`me` needs a system key: the reports it filed")
    cursor = decode_report_cursor(after) if after is not None else None
    if cursor is not None and offset:
        raise FieldError("offset", "cannot be combined with `after`")
    filters = listing_filter(session, viewer=principal, window=window, area=area, category=category, status=status,
                             bbox=bbox, overdue=overdue, unassigned=unassigned,
                             filed_by=principal.filed_by if filed_by == "me" else None)
    now = utcnow()
    rows, total = list_reports(session, filters=filters, now=now, limit=page + 1, offset=offset, after=cursor)
    more, rows = len(rows) > page, rows[:page]
    nxt = None
    if more:
        last = rows[-1]
        nxt = str(request.url.remove_query_params("offset").include_query_params(
            after=report_cursor(last.reported_at, last.id), limit=page))
    items = report_views(session, rows, viewer=principal, now=now)
    audit_reads(session, principal, rows)
    return ReportPage(items=items, numberMatched=total, numberReturned=len(rows), next=nxt)


@router.post("/reports/{report_id}/transitions", response_model=ReportOut, summary="Move a case through the loop",
             responses={**ERRORS, 409: {"description": "Illegal transition; `allowed` lists the legal actions"}})
def post_transition(report_id: ReportIdPath, body: TransitionIn, session: SessionDep, config: CityConfigDep,
                    principal: require(Permission.move_case),
                    idempotency_key: Annotated[str | None, Header(max_length=200, examples=["move-5b1e"], description=(
                        "Makes a retry safe: a transition already applied with this key is not applied again."))] = None):
    """Move a report through the loop; illegal moves are 409 with the allowed actions. A grid
    worker moves only the cases assigned to them (start, resolve, escalate, transfer); the
    staff of a department the cases it holds (accept, return, start, resolve, escalate, and
    transfer within the department). Transfer and return need the reason in `note`."""
    now = utcnow()
    report = apply_transition(session, report_id=report_id, action=body.action, actor=body.actor, note=body.note,
                              config=config, now=now, duplicate_of=body.duplicate_of, worker_id=body.worker_id,
                              expected_level=body.expected_level, request_key=idempotency_key, by=principal,
                              department=body.department)
    session.commit()
    out = report_view(session, report, viewer=principal, now=now, with_trail=True)
    audit_reads(session, principal, [report])
    return out


@router.post("/reports/{report_id}/rating", response_model=ReportOut, summary="Rate a closed case",
             responses={**ERRORS, 409: {"description": "Not closed yet, or already rated"}})
def post_rating(report_id: ReportIdPath, body: RatingIn, session: SessionDep,
                principal: case_access(Permission.rate_case, hint=RATE_HINT)):
    """The reporter rates a closed case 1–5, once, with the case token intake returned (a
    dispatcher may record a rating given by phone)."""
    now = utcnow()
    report = rate(session, report_id=report_id, rating=body.rating, comment=body.comment, now=now, by=principal)
    session.commit()
    out = report_view(session, report, viewer=principal, now=now)
    audit_reads(session, principal, [report])
    return out


@router.post("/reports/{report_id}/photos", response_model=ReportOut, status_code=201, summary="Add a photo",
             responses={**ERRORS, 413: {"description": "Photo too large"}, 415: {"description": "Not multipart"}})
def post_photo(
    report_id: ReportIdPath, session: SessionDep, config: CityConfigDep, settings: ApiSettingsDep,
    principal: case_access(Permission.upload_photo, hint=PHOTO_HINT),
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP; stored without EXIF or other metadata.")],
):
    """Attach a photo (the reporter with the case token, the case's worker, a dispatcher).
    Location, camera and every other metadata are stripped before storing; each 201 is a
    photo kept, and at most the city's limit (9) per case however many arrive at once."""
    report = get_report(session, report_id=report_id)
    if not may_upload_photo(principal, report):  # before the slow decode; lock_for_photo checks again under the lock
        raise Forbidden(PHOTO_HINT)
    # Decoding is the slow part (and may queue for a slot): hold no transaction, no pooled
    # connection and no lock meanwhile.
    session.rollback()
    clean, ext = clean_image(photo.file.read())
    name = photo_name(clean, ext)
    url = photo_url(report_id, name)
    now = utcnow()
    report, attached = lock_for_photo(session, report_id=report_id, url=url, config=config, by=principal)
    created = False
    if not attached:
        try:
            created = write_photo(settings.media_dir, report_id=report_id, name=name, data=clean)
            report = add_photo(session, report=report, url=url, now=now, by=principal)
            session.commit()
        except BaseException:
            session.rollback()
            if created:  # nothing refers to it: no orphan file
                remove_photo(settings.media_dir, report_id=report_id, name=name)
            raise
    out = report_view(session, report, viewer=principal, now=now)
    audit_reads(session, principal, [report])
    return out


@router.get("/reports/{report_id}/photos/{name}", response_class=FileResponse, summary="One photo",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
                             "description": "The photo, without metadata"}, 404: ERRORS[404]})
def get_photo(report_id: ReportIdPath,
              name: Annotated[str, Path(max_length=80, examples=["3f9a2c1e5b7d.jpg"], description=(
                  "The photo's file name, as listed in the report's `photos`."))], session: SessionDep,
              settings: ApiSettingsDep, principal: case_access(Permission.read_reports)):
    """A stored photo; photos of sensitive cases only for those who may see the case in full
    (and its reporter)."""
    report = get_report(session, report_id=report_id)
    path = photo_path(settings.media_dir, report_id=report.id, name=name)
    url = photo_url(report.id, name)
    if path is None or url not in report.photos or not may_see_photos(principal, report):
        raise NotFound("no such photo", report_id=str(report_id))
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
