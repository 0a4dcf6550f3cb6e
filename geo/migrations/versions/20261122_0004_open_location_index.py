"""open location index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Duplicate suggestions look for *open* reports of the same category within 250 m. A partial
GiST index over open cases stays small however many closed cases pile up, so every intake
(single or in a batch of 10,000) probes it in microseconds.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_reports_open_location', 'reports', ['location'], unique=False, postgresql_using='gist',
        postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"),
    )


def downgrade() -> None:
    op.drop_index('ix_reports_open_location', table_name='reports', postgresql_using='gist',
                  postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"))
