"""Geotagged reports. The matched grid *and* the generation it was matched under are stored,
so a later boundary change never silently re-homes an old case (FixMyStreet's lesson)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import SRID, Base, str_enum


class ReportSource(str, enum.Enum):
    citizen = "citizen"
    grid_worker = "grid_worker"
    hotline_12345 = "hotline_12345"
    video = "video"
    other = "other"


class ReportStatus(str, enum.Enum):
    registered = "registered"
    dispatched = "dispatched"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"
    duplicate = "duplicate"


OPEN_STATUSES = (ReportStatus.registered, ReportStatus.dispatched, ReportStatus.in_progress)
# Everything else has ended (resolved counts as ended: the grid's work is done, the reporter's
# check is pending); Open311's "closed" and OGC's ?status=closed are this.
CLOSED_STATUSES = tuple(s for s in ReportStatus if s not in OPEN_STATUSES)


class MatchKind(str, enum.Enum):
    inside = "inside"
    edge = "edge"  # several grids cover the point; the smallest code won
    snapped = "snapped"
    unassigned = "unassigned"


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    category: Mapped[str] = mapped_column(sa.String(2), nullable=False)
    subcategory: Mapped[str | None] = mapped_column(sa.String(4))
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    source: Mapped[ReportSource] = mapped_column(str_enum(ReportSource, "report_source"), nullable=False)
    location = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    # The location's H3 cell at geo.matching.cells.CELL_RES, as an integer: the maps group by its
    # parents (integer operations) instead of projecting every point on every page build.
    h3_cell: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # For a sensitive case: the H3 cell of its public location (geo.access.privacy), which every
    # aggregate shown to those who may not read it in full counts it in. NULL otherwise.
    public_cell: Mapped[int | None] = mapped_column(sa.BigInteger)
    # As received, before conversion to WGS-84 (GCJ-02 phones, projected survey data, ...).
    orig_x: Mapped[float | None] = mapped_column(sa.Float(53))
    orig_y: Mapped[float | None] = mapped_column(sa.Float(53))
    orig_crs: Mapped[str | None] = mapped_column(sa.String(16))
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    reported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus, "report_status"), nullable=False)
    grid_code: Mapped[str | None] = mapped_column(sa.String(15))
    generation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generations.id"))
    match_kind: Mapped[MatchKind | None] = mapped_column(str_enum(MatchKind, "match_kind"))
    assigned_worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workers.id"))
    dispatched_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(sa.SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(sa.Text)
    rated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    reporter_name: Mapped[str | None] = mapped_column(sa.Text)  # personal data
    reporter_phone: Mapped[str | None] = mapped_column(sa.String(32))  # personal data
    photos: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"), default=list)
    # 0 = grid, 1 = community, 2 = street, 3 = district, 4 = city command centre.
    escalation_level: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False, server_default="0", default=0)
    escalated_to: Mapped[str | None] = mapped_column(sa.String(15))
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("reports.id"))
    # The functional department holding the case (geo.departments; a code of the city
    # configuration), NULL while the grid chain holds it; accepted_at NULL until it accepts.
    department_code: Mapped[str | None] = mapped_column(sa.String(32))
    department_accepted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # How often a department returned the case to the dispatcher ("not ours").
    return_count: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False, server_default="0", default=0)
    # sha256 of the canonical intake body: a retry with the same id must carry the same body.
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))
    snap_distance_m: Mapped[float | None] = mapped_column(sa.Float)
    # The duplicate suggestions intake answered with (NULL: none were asked for), kept so
    # that a retry of the same report answers exactly what the first request did.
    suggested_duplicates: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    # Who filed it when a token was used ("system:hotline-12345", "worker:17"): a system key
    # reads the reports it filed, and a replay by the same holder gets its case token back.
    filed_by: Mapped[str | None] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    # The order rows changed in (sequence reports_change_seq): set on insert by the default and
    # on every update by a trigger (migration 0020), for the archive's watermark (geo.archive).
    change_seq: Mapped[int] = mapped_column(
        sa.BigInteger, nullable=False, server_default=sa.text("nextval('reports_change_seq'::regclass)"),
        server_onupdate=sa.FetchedValue(),
    )

    __table_args__ = (
        sa.CheckConstraint("category ~ '^[0-9]{2}$'", name="category_code"),
        sa.CheckConstraint(
            "subcategory IS NULL OR (subcategory ~ '^[0-9]{4}$' AND left(subcategory, 2) = category)",
            name="subcategory_code",
        ),
        # Resolution field (bits 52-55) = geo.matching.cells.CELL_RES: parents are computed from it.
        sa.CheckConstraint("(h3_cell >> 52) & 15 = 10", name="h3_cell_resolution"),
        sa.CheckConstraint("public_cell IS NULL OR (public_cell >> 52) & 15 = 10", name="public_cell_resolution"),
        # geo.reports.categories.SENSITIVE_CATEGORIES: a sensitive case without its public cell would
        # be counted at its point in the public aggregates.
        sa.CheckConstraint("category NOT IN ('10', '40', '50') OR public_cell IS NOT NULL",
                           name="sensitive_has_public_cell"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        # Python cannot read back what lies before year 1 (geo.instants); intake refuses it first.
        sa.CheckConstraint("reported_at >= '1900-01-01 00:00:00+00' AND reported_at < '2200-01-01 00:00:00+00'",
                           name="reported_at_readable"),
        sa.CheckConstraint("escalation_level BETWEEN 0 AND 4", name="escalation_level_range"),
        sa.CheckConstraint("department_accepted_at IS NULL OR department_code IS NOT NULL",
                           name="accepted_by_a_department"),
        sa.CheckConstraint("return_count >= 0", name="return_count_positive"),
        sa.CheckConstraint(
            "(grid_code IS NULL) = (generation_id IS NULL)", name="grid_with_generation"
        ),
        sa.Index("ix_reports_location", "location", postgresql_using="gist"),
        sa.Index("ix_reports_category_reported_at", "category", "reported_at"),
        sa.Index("ix_reports_grid_code_reported_at", "grid_code", "reported_at"),
        sa.Index(
            "ix_reports_open_due_at",
            "due_at",
            postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"),
        ),
        # A worker's own queue (GET /api/v1/me/cases): their open cases without reading every open row.
        sa.Index("ix_reports_open_assigned", "assigned_worker_id",
                 postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')")),
        # A department's open queue and its overdue backlog.
        sa.Index("ix_reports_department_open", "department_code", "due_at",
                 postgresql_where=sa.text("department_code IS NOT NULL "
                                          "AND status IN ('registered', 'dispatched', 'in_progress')")),
        # Deleting or re-linking a report checks who points at it through duplicate_of.
        sa.Index("ix_reports_duplicate_of", "duplicate_of", postgresql_where=sa.text("duplicate_of IS NOT NULL")),
        # Duplicate suggestions probe only open cases: a small index however long the history.
        sa.Index(
            "ix_reports_open_location",
            "location",
            postgresql_using="gist",
            postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"),
        ),
        sa.Index(
            "ix_reports_open_status",
            "status",
            postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"),
        ),
        # Index-only scans for the maps' windowed aggregates (migration 0003 explains); it also
        # serves every reported_at range scan (0006 dropped the plain reported_at index).
        sa.Index("ix_reports_map_cover", "reported_at",
                 postgresql_include=["category", "grid_code", "h3_cell", "public_cell", "location"]),
        # The archive's "what changed after its watermark" (geo.archive.writer).
        sa.Index("ix_reports_change_seq", "change_seq"),
    )


class ReportDeparture(Base):
    """Where reports left a month no remaining row tells of (filled by triggers, migration
    0020): deleted reports, one row per UTC day with their first and last ``reported_at``; a
    report whose ``reported_at`` changed, its old time; a TRUNCATE, a row without times
    (every month). ``change_seq`` is from the reports' sequence (geo.archive.writer)."""

    __tablename__ = "report_departures"

    change_seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False,
                                            server_default=sa.text("nextval('reports_change_seq'::regclass)"))
    first_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    reports: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.CheckConstraint("(first_at IS NULL) = (last_at IS NULL) AND first_at <= last_at", name="span"),
    )


class ReportEvent(Base):
    """The append-only trail of a report ("one work order all the way"). A trigger rejects
    UPDATE and DELETE, so history cannot be rewritten through the application."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    actor: Mapped[str] = mapped_column(sa.Text, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)
    from_status: Mapped[str | None] = mapped_column(sa.String(32))
    to_status: Mapped[str | None] = mapped_column(sa.String(32))
    data: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"), default=dict)

    __table_args__ = (sa.Index("ix_report_events_report_id_id", "report_id", "id"),)


class ReportCurrentGrid(Base):
    """A report's grid under the current boundaries (``gridmap reports restate``), for
    statistics of all history; ``Report.grid_code`` stays the grid it was handled under."""

    __tablename__ = "report_current_grids"

    report_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("reports.id", ondelete="CASCADE"),
                                                 primary_key=True)
    grid_code: Mapped[str | None] = mapped_column(sa.String(15))
    generation_id: Mapped[int] = mapped_column(sa.Integer, nullable=False)
