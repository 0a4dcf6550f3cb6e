"""workers: a GiST index on each on-duty worker's public cell, for the public nearest-worker KNN

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

The public dispatch answer ranks on-duty workers by their ~500 m cell (``geo.access.privacy``),
never their exact position. Without an index on the cell that ranking computed a geodesic
distance to every on-duty worker (21 ms of a 29 ms request on the demo city); with this
index a KNN scan on the cells picks the candidates, which depend on cells only, and the
geodesic distance orders those few. The literal 0.005 is ``WORKER_CELL_DEG`` at this
revision: the query must spell the same expression for the planner to use the index.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_workers_public_cell", "workers", [sa.text("ST_SnapToGrid(last_position, 0.005)")],
        postgresql_using="gist", postgresql_where=sa.text("on_duty IS TRUE AND last_position IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_workers_public_cell", table_name="workers")
