"""Report intake: validate, convert to WGS-84, match to a grid and worker, register, dispatch.

Idempotent by report id: a retry with the same id and body returns the original; the same id
with a different body is a conflict. Concurrent retries are serialised by the primary key
(INSERT ... ON CONFLICT DO NOTHING), so a second row can never appear.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo.categories import BY_CODE, SUB_BY_CODE
from geo.cityconfig import CityConfig
from geo.coords import check_lon_lat, normalise_crs, to_wgs84
from geo.errors import InvalidInput, InvalidState
from geo.generations import active_generation_id
from geo.matching import MatchOutcome, match_location
from geo.models import OPEN_STATUSES, MatchKind, Report, ReportEvent, ReportSource, ReportStatus, Worker
from geo.routing import MAX_ESCALATION, escalation_code, responsible_worker

# Phones' clocks drift; a report "from the future" by less than this is accepted as now.
CLOCK_SKEW = timedelta(minutes=5)
MAX_DUPLICATES_LISTED = 10


class IdempotencyConflict(InvalidState):
    """The id was used before with a different body."""

    code = "idempotency_conflict"


@dataclass(frozen=True)
class ReportInput:
    """One report as received. ``x``/``y`` are in ``crs`` (lon/lat degrees, or metres for EPSG)."""

    category: str
    description: str
    source: ReportSource
    x: float
    y: float
    reported_at: datetime
    crs: str = "wgs84"
    subcategory: str | None = None
    accuracy_m: float | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    photos: tuple[str, ...] = ()
    id: uuid.UUID | None = None

    def fingerprint(self) -> str:
        """sha256 of the body without the id: what a retry must repeat exactly."""
        body = {
            "category": self.category, "subcategory": self.subcategory, "description": self.description,
            "source": self.source.value, "x": self.x, "y": self.y, "crs": normalise_crs(self.crs),
            "accuracy_m": self.accuracy_m, "reported_at": self.reported_at.isoformat(),
            "reporter_name": self.reporter_name, "reporter_phone": self.reporter_phone, "photos": list(self.photos),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class IntakeResult:
    report: Report
    created: bool
    match: MatchOutcome
    worker: Worker | None
    possible_duplicates: list[uuid.UUID] = field(default_factory=list)


def validate(item: ReportInput, *, config: CityConfig, now: datetime) -> tuple[str, float, float]:
    """Check everything that does not need the database; returns (crs, lon, lat) in WGS-84.

    Raises InvalidInput naming the field and the reason.
    """
    crs = validate_fields(item, config=config, now=now)
    lon, lat = (float(v) for v in to_wgs84(item.x, item.y, crs))
    if crs.startswith("EPSG:"):
        check_lon_lat(lon, lat, prefix="location.")
    return crs, lon, lat


def validate_fields(item: ReportInput, *, config: CityConfig, now: datetime) -> str:
    """Every check but the converted coordinates' range; returns the normalised crs.

    Raises InvalidInput naming the field and the reason.
    """
    if item.category not in BY_CODE:
        raise InvalidInput(f"unknown category {item.category!r}; see GET /api/v1/categories", field="category")
    if item.subcategory is not None:
        sub = SUB_BY_CODE.get(item.subcategory)
        if sub is None or not item.subcategory.startswith(item.category):
            raise InvalidInput(
                f"unknown subcategory {item.subcategory!r} for category {item.category}", field="subcategory"
            )
    if len(item.description) > config.max_description_chars:
        raise InvalidInput(f"at most {config.max_description_chars} characters", field="description")
    if len(item.photos) > config.max_photos:
        raise InvalidInput(f"at most {config.max_photos} photos", field="photos")
    if item.reported_at.tzinfo is None:
        raise InvalidInput("must include a timezone offset", field="reported_at")
    if item.reported_at > now + CLOCK_SKEW:
        raise InvalidInput("is in the future", field="reported_at")
    crs = normalise_crs(item.crs)
    if not crs.startswith("EPSG:"):
        check_lon_lat(item.x, item.y, prefix="location.")
    return crs


def possible_duplicates(
    session: Session, *, report_id: uuid.UUID, category: str, lon: float, lat: float, config: CityConfig, now: datetime
) -> list[uuid.UUID]:
    """Open reports of the same category within the radius and window of (lon, lat), nearest first."""
    from geoalchemy2 import Geography

    radius = config.duplicate_radius_m
    geog = Geography(srid=4326)
    pt = sa.func.ST_SetSRID(sa.func.ST_MakePoint(lon, lat), 4326)
    dist = sa.func.ST_Distance(sa.cast(Report.location, geog), sa.cast(pt, geog))
    rows = session.scalars(
        sa.select(Report.id)
        .where(
            Report.category == category,
            Report.status.in_(OPEN_STATUSES),
            Report.id != report_id,
            Report.reported_at >= now - timedelta(days=config.duplicate_window_days),
            # The degree box (≥ the radius at latitudes below 60°) lets the GiST index cut first.
            sa.func.ST_DWithin(Report.location, pt, radius / 111_320 * 2),
            sa.func.ST_DWithin(sa.cast(Report.location, geog), sa.cast(pt, geog), radius),
        )
        .order_by(dist)
        .limit(MAX_DUPLICATES_LISTED)
    )
    return list(rows)


def submit_report(session: Session, *, item: ReportInput, config: CityConfig, now: datetime) -> IntakeResult:
    """Register one report (and dispatch it when a worker is found), or return the original
    on a retry. Commits nothing: the caller owns the transaction.

    Raises InvalidInput, IdempotencyConflict, NoActiveGeneration.
    """
    crs, lon, lat = validate(item, config=config, now=now)
    report_id = item.id or uuid.uuid4()
    fingerprint = item.fingerprint()
    existing = session.get(Report, report_id)
    if existing is not None:
        return _replay(session, existing, fingerprint)

    generation = active_generation_id(session)
    match = match_location(
        session, lon=lon, lat=lat, generation=generation, snap_tolerance_m=config.snap_tolerance_m
    )
    worker = responsible_worker(session, grid_code=match.grid_code) if match.grid_code else None
    limit_h = config.time_limit_h(item.category, item.subcategory)
    unassigned = match.kind == MatchKind.unassigned
    status = ReportStatus.dispatched if worker is not None else ReportStatus.registered
    values = dict(
        id=report_id, category=item.category, subcategory=item.subcategory, description=item.description,
        source=item.source, location=sa.func.ST_SetSRID(sa.func.ST_MakePoint(lon, lat), 4326),
        orig_x=item.x, orig_y=item.y, orig_crs=crs, accuracy_m=item.accuracy_m, reported_at=item.reported_at,
        status=status, grid_code=match.grid_code, generation_id=match.generation if match.grid_code else None,
        match_kind=match.kind, snap_distance_m=match.distance_m if match.kind == MatchKind.snapped else None,
        assigned_worker_id=worker.id if worker else None,
        dispatched_at=now if worker else None,
        # Unassigned cases still get a clock: the command centre must place them in time.
        due_at=config.deadline(now, limit_h),
        escalation_level=MAX_ESCALATION if unassigned else 0,
        escalated_to=escalation_code(session, grid_code=None, level=MAX_ESCALATION, generation=generation)
        if unassigned else None,
        reporter_name=item.reporter_name, reporter_phone=item.reporter_phone, photos=list(item.photos),
        request_hash=fingerprint, created_at=now, updated_at=now,
    )
    inserted = session.execute(
        insert(Report).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(Report.id)
    ).scalar_one_or_none()
    if inserted is None:
        # A concurrent retry won the race between our lookup and our insert.
        return _replay(session, session.get(Report, report_id, populate_existing=True), fingerprint)

    events = [ReportEvent(report_id=report_id, at=now, action="register", actor=item.source.value,
                          to_status=ReportStatus.registered.value,
                          data={"match": match.kind.value, "grid_code": match.grid_code, "generation": match.generation,
                                "crs": crs, "distance_m": match.distance_m})]
    if worker is not None:
        events.append(ReportEvent(report_id=report_id, at=now, action="dispatch", actor="system",
                                  from_status=ReportStatus.registered.value, to_status=status.value,
                                  data={"worker_id": worker.id, "due_at": values["due_at"].isoformat()}))
    elif unassigned:
        events.append(ReportEvent(report_id=report_id, at=now, action="escalate", actor="system",
                                  note="outside every grid: queued for the city command centre",
                                  data={"level": MAX_ESCALATION, "to": values["escalated_to"]}))
    session.add_all(events)
    session.flush()
    report = session.get(Report, report_id)
    dups = possible_duplicates(session, report_id=report_id, category=item.category, lon=lon, lat=lat,
                               config=config, now=now)
    return IntakeResult(report=report, created=True, match=match, worker=worker, possible_duplicates=dups)


def _replay(session: Session, report: Report, fingerprint: str) -> IntakeResult:
    if report.request_hash != fingerprint:
        raise IdempotencyConflict(
            "this report id was already used with a different body; send a new id for a new report",
            report_id=str(report.id),
        )
    match = MatchOutcome(
        kind=report.match_kind, generation=report.generation_id, grid_code=report.grid_code,
        distance_m=report.snap_distance_m,
    )
    worker = session.get(Worker, report.assigned_worker_id) if report.assigned_worker_id else None
    return IntakeResult(report=report, created=False, match=match, worker=worker)
