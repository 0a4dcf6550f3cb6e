"""webhooks: subscriptions of systems to their cases' trails, and the deliveries (the log)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

``webhook_subscriptions`` names a system (its filings: ``reports.filed_by = 'system:<name>'``),
a URL, the HMAC secret (stored as issued: signing needs it), an optional area prefix an
admin may grant, and how far down the trail (``report_events``, the outbox) it has been
scanned: ``watermark``, and the candidate ``horizon_event_id`` that replaces it once every
transaction that was running when it was read (``horizon_xid``: that snapshot's xmax) has
ended. ``webhook_deliveries`` holds one row per event and subscription: its attempts,
status and last answer; it is the delivery log staff read. Nothing here changes how cases
are written: no trigger, no new column on the trail.
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('system', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('area_prefix', sa.String(length=15), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('watermark', sa.BigInteger(), nullable=False),
        sa.Column('horizon_event_id', sa.BigInteger(), nullable=True),
        sa.Column('horizon_xid', sa.BigInteger(), nullable=True),
        sa.CheckConstraint("area_prefix IS NULL OR area_prefix ~ '^[0-9]{6,15}$'",
                           name=op.f('ck_webhook_subscriptions_area_prefix_code')),
        sa.CheckConstraint("url ~* '^https?://'", name=op.f('ck_webhook_subscriptions_url_http')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions')),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('subscription_id', sa.BigInteger(), nullable=False),
        sa.Column('report_id', sa.Uuid(), nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.Enum('pending', 'failed', 'delivered', 'dead', name='delivery_status',
                                    native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.SmallInteger(), nullable=True),
        sa.Column('last_error', sa.String(length=120), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'],
                                name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_webhook_deliveries_report_id_reports'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['event_id'], ['report_events.id'],
                                name=op.f('fk_webhook_deliveries_event_id_report_events'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_deliveries_subscription_id_event_id')),
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'],
                    postgresql_where=sa.text("status IN ('pending', 'failed')"))
    op.create_index('ix_webhook_deliveries_case_due', 'webhook_deliveries', ['subscription_id', 'report_id', 'event_id'],
                    postgresql_where=sa.text("status IN ('pending', 'failed')"))


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_case_due', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_subscriptions')
