"""reports.suggested_duplicates: the duplicate suggestions intake answered with

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

A retried intake (the same id, or the same Idempotency-Key) must return the answer the first
request got. Its duplicate suggestions depend on what was open nearby at that moment, so
they are stored with the report instead of being looked up again. NULL for reports filed
without suggestions (imports, batches without ?duplicates=true), whose replay lists none as
their first answer did, and for reports filed before this revision, whose suggestions were
not kept. A nullable column without a default: adding it rewrites nothing.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reports', sa.Column('suggested_duplicates', ARRAY(UUID(as_uuid=True)), nullable=True))


def downgrade() -> None:
    op.drop_column('reports', 'suggested_duplicates')
