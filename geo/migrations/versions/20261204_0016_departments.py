"""departments: the functional department holding a case, and department staff

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

Departments themselves live in the city configuration (``[[departments]]``): their codes,
names, categories, time limits and escalation contacts change with the city's
organisation, not with the schema. ``reports.department_code`` names the one holding a case
(NULL while the grid chain holds it), ``department_accepted_at`` when it accepted, and
``return_count`` how often a department returned it; ``workers.department_code`` marks a
department's staff. Every hop stays in the case's one trail (``report_events``).
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("department_code", sa.String(32)))
    op.add_column("reports", sa.Column("department_accepted_at", sa.DateTime(timezone=True)))
    op.add_column("reports", sa.Column("return_count", sa.SmallInteger(), server_default="0", nullable=False))
    op.create_check_constraint(op.f("ck_reports_accepted_by_a_department"), "reports",
                               "department_accepted_at IS NULL OR department_code IS NOT NULL")
    op.create_check_constraint(op.f("ck_reports_return_count_positive"), "reports", "return_count >= 0")
    op.create_index("ix_reports_department_open", "reports", ["department_code", "due_at"],
                    postgresql_where=sa.text("department_code IS NOT NULL "
                                             "AND status IN ('registered', 'dispatched', 'in_progress')"))
    op.add_column("workers", sa.Column("department_code", sa.String(32)))


def downgrade() -> None:
    op.drop_column("workers", "department_code")
    op.drop_index("ix_reports_department_open", table_name="reports")
    op.drop_constraint(op.f("ck_reports_return_count_positive"), "reports", type_="check")
    op.drop_constraint(op.f("ck_reports_accepted_by_a_department"), "reports", type_="check")
    op.drop_column("reports", "return_count")
    op.drop_column("reports", "department_accepted_at")
    op.drop_column("reports", "department_code")
