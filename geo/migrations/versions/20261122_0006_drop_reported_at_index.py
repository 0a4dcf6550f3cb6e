"""drop ix_reports_reported_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

ix_reports_map_cover (0003) leads with reported_at too, so it serves every range scan the
plain index served; keeping both cost every intake another B-tree insert.
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_reports_reported_at', table_name='reports')


def downgrade() -> None:
    op.create_index('ix_reports_reported_at', 'reports', ['reported_at'], unique=False)
