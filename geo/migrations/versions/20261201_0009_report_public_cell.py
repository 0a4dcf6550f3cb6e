"""reports.public_cell: the H3 cell of a sensitive case's public location

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

A sensitive case (categories 10, 40, 50) is shown to those who may not read it in full at the
centre of its 0.005° lattice cell (geo.access.privacy). Every aggregate they see (the public embed,
and the internal maps for planners and workers) must count it there too, so that no
difference of two maps places it more finely. Its public cell is stored (NULL for other
cases: their public cell is their own) and carried by the maps' covering index, so those
aggregates stay index-only scans. Existing sensitive reports are indexed in Python in
chunks (about 300,000 in the demo city), then the covering index is rebuilt.
"""
import logging

import numpy as np
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from geo.access.privacy import public_cells
from geo.reports.categories import SENSITIVE_CATEGORIES

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

CHUNK = 50_000
log = logging.getLogger("alembic.runtime.migration")


def _backfill(conn: sa.Connection) -> None:
    reports = sa.table("reports", sa.column("id", UUID(as_uuid=True)), sa.column("location"),
                       sa.column("category"), sa.column("public_cell", sa.BigInteger))
    sensitive = reports.c.category.in_(sorted(SENSITIVE_CATEGORIES))
    total = conn.scalar(sa.select(sa.func.count()).select_from(reports).where(sensitive))
    values = sa.func.unnest(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
                            sa.bindparam("cells", type_=ARRAY(sa.BigInteger))).table_valued("id", "cell").render_derived(name="v")
    update = reports.update().where(reports.c.id == values.c.id).values(public_cell=values.c.cell)
    done, after = 0, None
    while True:
        page = sa.select(reports.c.id, sa.func.ST_X(reports.c.location), sa.func.ST_Y(reports.c.location),
                         reports.c.category).where(sensitive)
        if after is not None:
            page = page.where(reports.c.id > after)
        rows = conn.execute(page.order_by(reports.c.id).limit(CHUNK)).all()
        if not rows:
            break
        ids = [r[0] for r in rows]
        cells = public_cells(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]), [r[3] for r in rows])
        conn.execute(update, {"ids": ids, "cells": cells})
        done, after = done + len(rows), ids[-1]
        log.info("reports.public_cell: %s of %s sensitive reports indexed", f"{done:,}", f"{total:,}")


def upgrade() -> None:
    op.drop_index('ix_reports_map_cover', table_name='reports')
    op.add_column('reports', sa.Column('public_cell', sa.BigInteger(), nullable=True))
    _backfill(op.get_bind())
    op.create_check_constraint(op.f('ck_reports_public_cell_resolution'), 'reports',
                               'public_cell IS NULL OR (public_cell >> 52) & 15 = 10')
    op.create_check_constraint(op.f('ck_reports_sensitive_has_public_cell'), 'reports',
                               "category NOT IN ('10', '40', '50') OR public_cell IS NOT NULL")
    op.create_index(
        'ix_reports_map_cover', 'reports', ['reported_at'], unique=False,
        postgresql_include=['category', 'grid_code', 'h3_cell', 'public_cell', 'location'],
    )


def downgrade() -> None:
    op.drop_index('ix_reports_map_cover', table_name='reports')
    op.drop_constraint(op.f('ck_reports_sensitive_has_public_cell'), 'reports', type_='check')
    op.drop_constraint(op.f('ck_reports_public_cell_resolution'), 'reports', type_='check')
    op.drop_column('reports', 'public_cell')
    op.create_index(
        'ix_reports_map_cover', 'reports', ['reported_at'], unique=False,
        postgresql_include=['category', 'grid_code', 'h3_cell', 'location'],
    )
