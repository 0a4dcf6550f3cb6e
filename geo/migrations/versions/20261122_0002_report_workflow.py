"""report workflow

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The closed loop: an append-only event trail, escalation, duplicates, ratings, photos and
the intake body hash that makes retries idempotent.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('report_id', sa.UUID(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_events_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_events'))
    )
    op.create_index('ix_report_events_report_id_id', 'report_events', ['report_id', 'id'], unique=False)
    op.add_column('reports', sa.Column('rating_comment', sa.Text(), nullable=True))
    op.add_column('reports', sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('reports', sa.Column('photos', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.add_column('reports', sa.Column('escalation_level', sa.SmallInteger(), server_default='0', nullable=False))
    op.add_column('reports', sa.Column('escalated_to', sa.String(length=15), nullable=True))
    op.add_column('reports', sa.Column('duplicate_of', sa.UUID(), nullable=True))
    op.add_column('reports', sa.Column('request_hash', sa.String(length=64), nullable=True))
    op.add_column('reports', sa.Column('snap_distance_m', sa.Float(), nullable=True))
    op.add_column('reports', sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
    op.create_index('ix_reports_open_due_at', 'reports', ['due_at'], unique=False, postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"))
    op.create_foreign_key(op.f('fk_reports_duplicate_of_reports'), 'reports', 'reports', ['duplicate_of'], ['id'])
    op.create_check_constraint(op.f('ck_reports_escalation_level_range'), 'reports', 'escalation_level BETWEEN 0 AND 4')
    # History is evidence: the application may only append to the trail.
    op.execute(
        """
        CREATE FUNCTION report_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'report_events is append-only (% rejected)', TG_OP;
        END $$;
        CREATE TRIGGER report_events_append_only BEFORE UPDATE OR DELETE ON report_events
            FOR EACH ROW EXECUTE FUNCTION report_events_append_only();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER report_events_append_only ON report_events")
    op.execute("DROP FUNCTION report_events_append_only()")
    op.drop_constraint(op.f('ck_reports_escalation_level_range'), 'reports', type_='check')
    op.drop_constraint(op.f('fk_reports_duplicate_of_reports'), 'reports', type_='foreignkey')
    op.drop_index('ix_reports_open_due_at', table_name='reports', postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"))
    op.drop_column('reports', 'updated_at')
    op.drop_column('reports', 'snap_distance_m')
    op.drop_column('reports', 'request_hash')
    op.drop_column('reports', 'duplicate_of')
    op.drop_column('reports', 'escalated_to')
    op.drop_column('reports', 'escalation_level')
    op.drop_column('reports', 'photos')
    op.drop_column('reports', 'rated_at')
    op.drop_column('reports', 'rating_comment')
    op.drop_index('ix_report_events_report_id_id', table_name='report_events')
    op.drop_table('report_events')
