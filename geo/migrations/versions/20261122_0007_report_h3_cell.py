"""reports.h3_cell: each report's H3 cell (resolution 10) as an integer

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

The hot-spot maps group reports by H3 cell. Projecting every point in SQL on every page
build cost 1.2 s over 1 M reports; grouping by a stored cell's parent (two integer operations,
see geo.matching.cells) costs a third of that. The map covering index carries the cell so the
aggregates stay index-only scans.

PostgreSQL has no H3 here (no h3-pg), so existing rows are indexed in Python, in chunks of
50,000 in id order: one to two minutes per million reports (the command logs each chunk).
The covering index is dropped for the backfill and built once afterwards; the rewritten
rows leave dead tuples for autovacuum to clear.
"""
import logging

import numpy as np
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from geo.matching.cells import cells_of_points

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CHUNK = 50_000
log = logging.getLogger("alembic.runtime.migration")


def _backfill(conn: sa.Connection) -> None:
    reports = sa.table("reports", sa.column("id", UUID(as_uuid=True)), sa.column("location"),
                       sa.column("h3_cell", sa.BigInteger))
    total = conn.scalar(sa.select(sa.func.count()).select_from(reports))
    done, after = 0, None
    values = sa.func.unnest(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
                            sa.bindparam("cells", type_=ARRAY(sa.BigInteger))).table_valued("id", "cell").render_derived(name="v")
    update = reports.update().where(reports.c.id == values.c.id).values(h3_cell=values.c.cell)
    while True:
        page = sa.select(reports.c.id, sa.func.ST_X(reports.c.location), sa.func.ST_Y(reports.c.location))
        if after is not None:
            page = page.where(reports.c.id > after)
        rows = conn.execute(page.order_by(reports.c.id).limit(CHUNK)).all()
        if not rows:
            break
        ids = [r[0] for r in rows]
        cells = cells_of_points(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
        conn.execute(update, {"ids": ids, "cells": cells.tolist()})
        done, after = done + len(rows), ids[-1]
        log.info("reports.h3_cell: %s of %s reports indexed", f"{done:,}", f"{total:,}")


def upgrade() -> None:
    op.drop_index('ix_reports_map_cover', table_name='reports')
    op.add_column('reports', sa.Column('h3_cell', sa.BigInteger(), nullable=True))
    _backfill(op.get_bind())
    op.alter_column('reports', 'h3_cell', nullable=False)
    op.create_check_constraint(op.f('ck_reports_h3_cell_resolution'), 'reports', '(h3_cell >> 52) & 15 = 10')
    op.create_index(
        'ix_reports_map_cover', 'reports', ['reported_at'], unique=False,
        postgresql_include=['category', 'grid_code', 'h3_cell', 'location'],
    )


def downgrade() -> None:
    op.drop_index('ix_reports_map_cover', table_name='reports')
    op.drop_constraint(op.f('ck_reports_h3_cell_resolution'), 'reports', type_='check')
    op.drop_column('reports', 'h3_cell')
    op.create_index(
        'ix_reports_map_cover', 'reports', ['reported_at'], unique=False,
        postgresql_include=['category', 'grid_code', 'location'],
    )
