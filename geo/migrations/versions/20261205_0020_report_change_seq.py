"""the reports archive's change watermark: reports.change_seq and report_departures

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

``gridmap reports archive`` (geo.archive.writer) rewrites only the months that changed since
its last run. To know them without touching any code path that writes reports:

* ``reports.change_seq`` (bigint, from the sequence ``reports_change_seq``): set on INSERT by
  its DEFAULT and on every UPDATE by the row trigger ``reports_change_seq`` (status moves,
  rematches, anonymisation, a typed UPDATE: all of them). Indexed, so "what changed after W"
  is an index range scan. The sequence keeps CACHE 1 (do not raise it): values are then
  issued in order across sessions, which the archive's watermark relies on; it is not OWNED BY
  the column, so ``TRUNCATE ... RESTART IDENTITY`` (the demo loader) cannot rewind it.
* ``report_departures``: where reports *left* a month, which no remaining row can tell. A
  DELETE logs one row per UTC day of the deleted reports (statement trigger over the deleted
  rows: a purge of a year costs ~365 rows, not one a report); a changed ``reported_at`` logs
  the old time (row trigger, only when it changed); a TRUNCATE logs a row with no times
  ("every month"). Their ``change_seq`` comes from the same sequence.

Cost: the DEFAULT is one ``nextval`` per insert (sub-microsecond; the sequence is WAL-logged
once every 32 values); each updated row runs a one-line PL/pgSQL trigger (a few µs: a
million-row rematch gets a few seconds slower) and writes one more index entry (an update
changing ``change_seq`` is never HOT).

Existing rows: ADD COLUMN with a volatile DEFAULT rewrites the table once, giving every row
its own value (no second UPDATE pass leaving a million dead rows and index entries behind).
It holds an ACCESS EXCLUSIVE lock for the rewrite (seconds for the demo's 1 M reports).
"""
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE reports_change_seq AS bigint CACHE 1")
    op.execute("ALTER TABLE reports ADD COLUMN change_seq bigint NOT NULL DEFAULT nextval('reports_change_seq')")
    op.create_index("ix_reports_change_seq", "reports", ["change_seq"])
    op.execute(
        """
        CREATE FUNCTION reports_change_seq() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.change_seq := nextval('reports_change_seq');
            RETURN NEW;
        END $$;
        CREATE TRIGGER reports_change_seq BEFORE UPDATE ON reports
            FOR EACH ROW EXECUTE FUNCTION reports_change_seq();
        """
    )
    op.execute(
        """
        CREATE TABLE report_departures (
            change_seq bigint NOT NULL DEFAULT nextval('reports_change_seq'),
            first_at timestamptz,
            last_at timestamptz,
            reports integer NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_report_departures PRIMARY KEY (change_seq),
            CONSTRAINT ck_report_departures_span CHECK ((first_at IS NULL) = (last_at IS NULL) AND first_at <= last_at)
        );
        CREATE FUNCTION reports_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- One row a UTC day: a day spans at most two months in any time zone, the months
            -- of its first and last report, which the archive rewrites.
            INSERT INTO report_departures (first_at, last_at, reports)
                SELECT min(reported_at), max(reported_at), count(*) FROM deleted
                GROUP BY date_trunc('day', reported_at, 'UTC');
            RETURN NULL;
        END $$;
        CREATE TRIGGER reports_deleted AFTER DELETE ON reports REFERENCING OLD TABLE AS deleted
            FOR EACH STATEMENT EXECUTE FUNCTION reports_deleted();
        CREATE FUNCTION reports_moved() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO report_departures (first_at, last_at, reports) VALUES (OLD.reported_at, OLD.reported_at, 1);
            RETURN NULL;
        END $$;
        CREATE TRIGGER reports_moved AFTER UPDATE OF reported_at ON reports
            FOR EACH ROW WHEN (OLD.reported_at IS DISTINCT FROM NEW.reported_at) EXECUTE FUNCTION reports_moved();
        CREATE FUNCTION reports_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO report_departures (first_at, last_at, reports) VALUES (NULL, NULL, 0);
            RETURN NULL;
        END $$;
        CREATE TRIGGER reports_truncated AFTER TRUNCATE ON reports
            FOR EACH STATEMENT EXECUTE FUNCTION reports_truncated();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER reports_truncated ON reports")
    op.execute("DROP TRIGGER reports_moved ON reports")
    op.execute("DROP TRIGGER reports_deleted ON reports")
    op.execute("DROP TRIGGER reports_change_seq ON reports")
    op.execute("DROP FUNCTION reports_truncated(), reports_moved(), reports_deleted(), reports_change_seq()")
    op.drop_table("report_departures")
    op.drop_index("ix_reports_change_seq", table_name="reports")
    op.drop_column("reports", "change_seq")
    op.execute("DROP SEQUENCE reports_change_seq")
