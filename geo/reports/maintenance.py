"""Administrative clean-up that the application itself never does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from geo.models import Report, ReportEvent


def purge_reports(conn: Connection, *, where) -> int:
    """Delete the reports matching ``where`` (a SQL condition on Report) and their trails.

    For test and benchmark data only: the trail is append-only for the application, so this
    lifts the trigger inside the caller's transaction (it needs the table's owner). Returns
    the number of reports deleted.
    """
    ids = sa.select(Report.id).where(where)
    conn.exec_driver_sql("ALTER TABLE report_events DISABLE TRIGGER report_events_append_only")
    conn.execute(sa.delete(ReportEvent).where(ReportEvent.report_id.in_(ids)))
    deleted = conn.execute(sa.delete(Report).where(where)).rowcount
    conn.exec_driver_sql("ALTER TABLE report_events ENABLE TRIGGER report_events_append_only")
    return deleted


def vacuum_reports(engine: sa.Engine) -> None:
    """VACUUM ANALYZE the reports and their trail, outside any transaction (VACUUM cannot run
    in one). After a bulk rewrite or delete, dead rows would otherwise slow every map query,
    and clear the visibility map its index-only scans rely on, until autovacuum gets there."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (Report.__table__, ReportEvent.__table__):
            # Table names are this module's constants, never input; VACUUM takes no parameters.
            conn.exec_driver_sql(f"VACUUM ANALYZE {table.name}")
