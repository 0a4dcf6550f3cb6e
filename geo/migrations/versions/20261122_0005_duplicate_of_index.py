"""duplicate_of index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Every DELETE of a report (and every key update) must find the reports whose duplicate_of
points at it; without an index that is a scan of the whole table per row.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_reports_duplicate_of', 'reports', ['duplicate_of'], unique=False,
                    postgresql_where=sa.text('duplicate_of IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_reports_duplicate_of', table_name='reports',
                  postgresql_where=sa.text('duplicate_of IS NOT NULL'))
