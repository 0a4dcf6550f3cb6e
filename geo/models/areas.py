"""Boundary generations and the area hierarchy (city → district → street → community → grid).

Areas follow MapIt's generations: a row is valid from ``generation_low`` to
``generation_high`` inclusive. A new boundary set is loaded into a draft generation,
unchanged areas are carried forward by raising their ``generation_high``, and activating the
draft is one transaction. Codes are stable across generations; geometry is SRID 4326.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from geo.boundaries.hierarchy import AreaLevel
from geo.models.base import SRID, Base, str_enum


class GenerationStatus(str, enum.Enum):
    draft = "draft"
    active = "active"
    retired = "retired"


class AreaKind(str, enum.Enum):
    urban = "urban"
    rural = "rural"
    dedicated = "dedicated"


class Generation(Base):
    __tablename__ = "generations"

    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    status: Mapped[GenerationStatus] = mapped_column(
        str_enum(GenerationStatus, "generation_status"), nullable=False, default=GenerationStatus.draft
    )
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
    activated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Bumped by a trigger (migration 0011) whenever an area valid in this generation is
    # inserted, updated or deleted: what per-generation caches key on (geo.boundaries.cache).
    areas_revision: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0", default=0)
    # The planners' workflow (migration 0013): who did what, when it is due, what it was
    # drawn from, and what the import found before cleaning (overlaps and gaps the cleaning
    # would otherwise merge away silently).
    created_by: Mapped[str | None] = mapped_column(sa.Text)
    activated_by: Mapped[str | None] = mapped_column(sa.Text)
    scheduled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    scheduled_by: Mapped[str | None] = mapped_column(sa.Text)
    based_on: Mapped[int | None] = mapped_column(sa.Integer)
    findings: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"), default=list)
    summary: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"), default=dict)

    __table_args__ = (
        # At most one active generation; activation swaps statuses inside one transaction.
        sa.Index(
            "uq_generations_one_active",
            "status",
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
        ),
        sa.Index("uq_generations_one_draft", "status", unique=True, postgresql_where=sa.text("status = 'draft'")),
        sa.Index("ix_generations_scheduled", "scheduled_at",
                 postgresql_where=sa.text("status = 'draft' AND scheduled_at IS NOT NULL")),
    )


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(15), nullable=False)
    level: Mapped[AreaLevel] = mapped_column(str_enum(AreaLevel, "area_level"), nullable=False)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)
    kind: Mapped[AreaKind | None] = mapped_column(str_enum(AreaKind, "area_kind"))
    parent_code: Mapped[str | None] = mapped_column(sa.String(15))
    households: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    population: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # Households/population estimated by area weighting from the grids a new one was drawn
    # from (the planner's file gave none), not counted.
    estimated: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false(), default=False)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    generation_low: Mapped[int] = mapped_column(sa.ForeignKey("generations.id"), nullable=False)
    generation_high: Mapped[int] = mapped_column(sa.ForeignKey("generations.id"), nullable=False)

    __table_args__ = (
        sa.CheckConstraint("generation_low <= generation_high", name="generation_range"),
        sa.CheckConstraint("code ~ '^[0-9]+$'", name="code_digits"),
        sa.CheckConstraint(
            "char_length(code) = CASE level WHEN 'city' THEN 6 WHEN 'district' THEN 6 "
            "WHEN 'street' THEN 9 WHEN 'community' THEN 12 ELSE 15 END",
            name="code_length",
        ),
        sa.CheckConstraint("households >= 0 AND population >= 0", name="counts_nonnegative"),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        # One version of a code per generation, enforced by the database (needs btree_gist).
        ExcludeConstraint(
            (sa.column("code"), "="),
            (sa.func.int4range(sa.column("generation_low"), sa.column("generation_high"), "[]"), "&&"),
            name="ex_areas_code_generations",
            using="gist",
        ),
        sa.Index("ix_areas_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_areas_level_code", "level", "code"),
        sa.Index("ix_areas_parent_code", "parent_code"),
        sa.Index("ix_areas_generations", "generation_low", "generation_high"),
    )


class AreaPiece(Base):
    """``ST_Subdivide`` pieces of each area: small boxes make the GiST index selective.

    Denormalised (code, level, generation range) so a point lookup touches one table.
    """

    __tablename__ = "area_pieces"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    area_id: Mapped[int] = mapped_column(sa.ForeignKey("areas.id", ondelete="CASCADE"), nullable=False)
    code: Mapped[str] = mapped_column(sa.String(15), nullable=False)
    level: Mapped[AreaLevel] = mapped_column(str_enum(AreaLevel, "area_piece_level"), nullable=False)
    generation_low: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    generation_high: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    geom = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False), nullable=False)

    __table_args__ = (
        sa.Index("ix_area_pieces_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_area_pieces_area_id", "area_id"),
    )


class DraftAssignment(Base):
    """A responsibility the planner set for the draft (``gridmap workers assign``): applied to
    ``assignments`` when the draft is activated, so today's routing never sees it early."""

    __tablename__ = "draft_assignments"

    generation_id: Mapped[int] = mapped_column(sa.ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True)
    area_code: Mapped[str] = mapped_column(sa.String(15), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    rank: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, default=1)
    worker_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False)
    created_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
