"""Roles and limits: api_tokens, audit_events, server_secrets, rate_counters; reports.filed_by;
times the application can always read back

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Before this revision intake accepted a reported_at of 0001-01-01T00:00:00+14:00, which is
1 BC in UTC: PostgreSQL stores it, Python cannot read it, and the case could then not be
read, listed, moved or escalated. Such rows are repaired here (reported_at set to the time
the case was registered, the old value kept in a `repair` entry of its trail; a worker's
unreadable last_seen_at is cleared) and check constraints keep new ones out.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

READABLE = "{col} >= '1900-01-01 00:00:00+00' AND {col} < '2200-01-01 00:00:00+00'"


def upgrade() -> None:
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('worker_id', sa.BigInteger(), nullable=True),
        sa.Column('system', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('worker', 'dispatcher', 'planner', 'admin', 'system')",
                           name=op.f('ck_api_tokens_role_known')),
        sa.CheckConstraint("(role = 'worker') = (worker_id IS NOT NULL)",
                           name=op.f('ck_api_tokens_worker_token_names_worker')),
        sa.CheckConstraint("(role = 'system') = (system IS NOT NULL)",
                           name=op.f('ck_api_tokens_system_token_names_system')),
        sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_api_tokens_worker_id_workers'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_api_tokens_token_sha256')),
    )
    op.create_table(
        'audit_events',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('holder', sa.Text(), nullable=False),
        sa.Column('token_id', sa.BigInteger(), nullable=True),
        sa.Column('action', sa.String(length=48), nullable=False),
        sa.Column('subject_type', sa.String(length=32), nullable=True),
        sa.Column('subject_id', sa.Text(), nullable=True),
        sa.Column('detail', sa.dialects.postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )
    op.create_index('ix_audit_events_at', 'audit_events', ['at'], unique=False)
    op.create_index('ix_audit_events_subject', 'audit_events', ['subject_type', 'subject_id'], unique=False)
    op.execute(
        """
        CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only (% rejected)', TG_OP;
        END $$;
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
        """
    )
    op.create_table(
        'server_secrets',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('value', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_server_secrets')),
    )
    op.create_table(
        'rate_counters',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('window_start', sa.BigInteger(), nullable=False),
        sa.Column('used', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_counters')),
        prefixes=['UNLOGGED'],
    )
    op.add_column('reports', sa.Column('filed_by', sa.String(length=80), nullable=True))

    bad = "NOT (" + READABLE.format(col="reported_at") + ")"
    op.execute(
        "INSERT INTO report_events (report_id, at, action, actor, note, from_status, to_status, data) "
        "SELECT id, now(), 'repair', 'system', 'reported_at could not be read back; set to the time of registration', "
        "status, status, jsonb_build_object('reported_at_was', reported_at::text) FROM reports WHERE " + bad
    )
    op.execute("UPDATE reports SET reported_at = created_at WHERE " + bad)
    op.execute("UPDATE workers SET last_seen_at = NULL WHERE NOT (" + READABLE.format(col="last_seen_at") + ")")
    op.create_check_constraint(op.f('ck_reports_reported_at_readable'), 'reports', READABLE.format(col="reported_at"))
    op.create_check_constraint(op.f('ck_workers_last_seen_at_readable'), 'workers',
                               "last_seen_at IS NULL OR (" + READABLE.format(col="last_seen_at") + ")")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_workers_last_seen_at_readable'), 'workers', type_='check')
    op.drop_constraint(op.f('ck_reports_reported_at_readable'), 'reports', type_='check')
    op.drop_column('reports', 'filed_by')
    op.drop_table('rate_counters')
    op.drop_table('server_secrets')
    op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_index('ix_audit_events_subject', table_name='audit_events')
    op.drop_index('ix_audit_events_at', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('api_tokens')
