"""Grid workers and their assignments. Names and phones are personal data: never public."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import SRID, Base, str_enum


class WorkerRole(str, enum.Enum):
    grid_worker = "grid_worker"  # 网格员
    community_lead = "community_lead"  # 社区网格长
    street_lead = "street_lead"  # 街道网格办
    district_lead = "district_lead"  # 区县网格中心
    city_center = "city_center"  # 市指挥中心


class AssignmentRole(str, enum.Enum):
    primary = "primary"
    backup = "backup"
    lead = "lead"  # the contact of a community/street/district/city on the escalation chain


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    staff_no: Mapped[str] = mapped_column(sa.String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)  # personal data
    phone: Mapped[str | None] = mapped_column(sa.String(32))  # personal data
    public_name: Mapped[str] = mapped_column(sa.Text, nullable=False)  # e.g. "王网格员", shown on signs
    role: Mapped[WorkerRole] = mapped_column(str_enum(WorkerRole, "worker_role"), nullable=False)
    # Staff of a functional department (geo.departments: a code of the city configuration).
    department_code: Mapped[str | None] = mapped_column(sa.String(32))
    on_duty: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    last_position = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    last_seen_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index("ix_workers_last_position", "last_position", postgresql_using="gist"),
        # The public nearest-worker KNN ranks cells, never positions (migration 0012); 0.005 is
        # geo.access.privacy.WORKER_CELL_DEG, spelled as the query spells it.
        sa.Index("ix_workers_public_cell", sa.text("ST_SnapToGrid(last_position, 0.005)"), postgresql_using="gist",
                 postgresql_where=sa.text("on_duty IS TRUE AND last_position IS NOT NULL")),
        sa.CheckConstraint("last_seen_at IS NULL OR (last_seen_at >= '1900-01-01 00:00:00+00' "
                           "AND last_seen_at < '2200-01-01 00:00:00+00')", name="last_seen_at_readable"),
    )


class Assignment(Base):
    """A worker's responsibility for an area *code* (codes outlive boundary generations)."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    worker_id: Mapped[int] = mapped_column(sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False)
    area_code: Mapped[str] = mapped_column(sa.String(15), nullable=False)
    role: Mapped[AssignmentRole] = mapped_column(str_enum(AssignmentRole, "assignment_role"), nullable=False)
    rank: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False, default=1)
    started_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index("ix_assignments_area_code", "area_code"),
        sa.Index("ix_assignments_worker_id", "worker_id"),
        # Exactly one current primary per area; history stays as ended rows.
        sa.Index(
            "uq_assignments_one_primary",
            "area_code",
            unique=True,
            postgresql_where=sa.text("role = 'primary' AND ended_at IS NULL"),
        ),
    )
