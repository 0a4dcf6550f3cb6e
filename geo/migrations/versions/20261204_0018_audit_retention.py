"""Audit retention: the append-only audit trail lets its retention delete old rows

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

``audit_events`` refuses every UPDATE and DELETE (0008). A city must also keep its audit no
longer than its retention period (``[retention] audit_days``), so DELETE is now allowed in one
case only: the transaction has declared a retention cutoff (``SET LOCAL
gridmap.audit_retention_cutoff``, as ``geo.access.retention.purge_audit`` does), the row is
older than that cutoff, and the cutoff lies at least 28 days in the past (the configuration
asks for 30 or more; the margin absorbs clocks and a long transaction's start). UPDATE stays
refused, and so does any other DELETE: a bug or a typed statement cannot rewrite or empty the
audit. (The table's owner can still drop the trigger: it guards against mistakes, not the DBA.)
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            cutoff timestamptz := NULLIF(current_setting('gridmap.audit_retention_cutoff', true), '')::timestamptz;
        BEGIN
            IF TG_OP = 'DELETE' AND cutoff IS NOT NULL AND cutoff <= now() - interval '28 days'
               AND OLD.at < cutoff THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit_events is append-only (% rejected)', TG_OP;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only (% rejected)', TG_OP;
        END $$;
        """
    )
