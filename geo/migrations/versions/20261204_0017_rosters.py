"""rosters: weekly shifts and dated exceptions (leave with cover, extra duty) per worker

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

``roster_shifts``: a worker's week, ISO weekday and local minutes since midnight in the
city's time zone (end before start: overnight). ``roster_exceptions``: dated leave (with an
optional covering colleague) and extra duty, as instants. Duty at a moment is derived from
these (``geo.rosters.rules``); ``workers.on_duty`` stays the stored flag the public KNN index
(``ix_workers_public_cell``) filters on: the server's periodic job refreshes it from the
roster for every worker who has weekly shifts, and a worker with none keeps it as set.
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'roster_shifts',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('worker_id', sa.BigInteger(), nullable=False),
        sa.Column('weekday', sa.SmallInteger(), nullable=False),
        sa.Column('start_min', sa.SmallInteger(), nullable=False),
        sa.Column('end_min', sa.SmallInteger(), nullable=False),
        sa.CheckConstraint('weekday BETWEEN 1 AND 7', name=op.f('ck_roster_shifts_weekday_iso')),
        sa.CheckConstraint('start_min BETWEEN 0 AND 1439', name=op.f('ck_roster_shifts_start_in_day')),
        sa.CheckConstraint('end_min BETWEEN 1 AND 1440', name=op.f('ck_roster_shifts_end_in_day')),
        sa.CheckConstraint('start_min <> end_min', name=op.f('ck_roster_shifts_not_empty')),
        sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_roster_shifts_worker_id_workers'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_shifts')),
    )
    op.create_index('ix_roster_shifts_worker_id', 'roster_shifts', ['worker_id', 'weekday', 'start_min', 'end_min'])
    op.create_table(
        'roster_exceptions',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('worker_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.Enum('leave', 'duty', name='roster_exception_kind', native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cover_worker_id', sa.BigInteger(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_roster_exceptions_ordered')),
        sa.CheckConstraint("cover_worker_id IS NULL OR (kind = 'leave' AND cover_worker_id <> worker_id)",
                           name=op.f('ck_roster_exceptions_cover_of_leave')),
        sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_roster_exceptions_worker_id_workers'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['cover_worker_id'], ['workers.id'],
                                name=op.f('fk_roster_exceptions_cover_worker_id_workers'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_exceptions')),
    )
    op.create_index('ix_roster_exceptions_worker_id', 'roster_exceptions', ['worker_id', 'ends_at'])
    op.create_index('ix_roster_exceptions_cover_worker_id', 'roster_exceptions', ['cover_worker_id', 'ends_at'],
                    postgresql_where=sa.text('cover_worker_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_roster_exceptions_cover_worker_id', table_name='roster_exceptions')
    op.drop_index('ix_roster_exceptions_worker_id', table_name='roster_exceptions')
    op.drop_table('roster_exceptions')
    op.drop_index('ix_roster_shifts_worker_id', table_name='roster_shifts')
    op.drop_table('roster_shifts')
