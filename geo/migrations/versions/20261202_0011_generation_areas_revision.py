"""generations.areas_revision: a counter bumped whenever a generation's areas change

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Per-generation caches (the grid matcher, outlines, adjacency, neighbours) must never serve
a draft generation's old boundaries after a planner edits them, in place included. A
statement-level trigger on ``areas`` bumps the revision of every generation an inserted,
updated or deleted row is valid in (old and new validity ranges), so the caches key on
(generation, created_at, areas_revision, the row's xmin) with one primary-key read. The
xmin tells apart two transactions that bumped to the same number, one of which rolled back.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BUMP = """
CREATE FUNCTION bump_areas_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (SELECT 1 FROM new_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (SELECT 1 FROM old_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high);
    ELSE  -- an update: the generations the rows were valid in before and after (carry-forward)
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (SELECT 1 FROM new_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high)
           OR EXISTS (SELECT 1 FROM old_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER areas_revision_insert AFTER INSERT ON areas REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_areas_revision();
CREATE TRIGGER areas_revision_update AFTER UPDATE ON areas REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_areas_revision();
CREATE TRIGGER areas_revision_delete AFTER DELETE ON areas REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_areas_revision();
"""


def upgrade() -> None:
    op.add_column('generations', sa.Column('areas_revision', sa.BigInteger(), server_default='0', nullable=False))
    op.execute(BUMP)


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER areas_revision_{event} ON areas")
    op.execute("DROP FUNCTION bump_areas_revision()")
    op.drop_column('generations', 'areas_revision')
