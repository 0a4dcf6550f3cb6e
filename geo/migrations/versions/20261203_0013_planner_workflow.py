"""the planners' workflow: generation provenance and schedule, estimated counts, draft
assignments, each report's grid under today's boundaries

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

``generations`` records who imported and activated a generation, when a scheduled
activation is due (``scheduled_at``; the server's periodic loop claims it with SKIP LOCKED so
it fires once), what it was drawn from, and the overlaps and gaps found in the planner's file
before cleaning. ``areas.estimated`` marks households/population estimated by area
weighting. ``draft_assignments`` holds the responsibilities set for a draft until it is
activated. ``report_current_grids`` holds each report's grid under the current boundaries for
statistics (``gridmap reports restate``), apart from ``reports.grid_code``, the grid it was
handled under: a narrow table of its own, because restating a million reports as an UPDATE
of ``reports`` rewrote every row and its ten indexes (50 s), where inserting here takes a
fraction of that.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


# An UPDATE bumps a generation's revision only when what that generation sees changed: the
# row became or stopped being valid in it, or the row's content changed while valid in it.
# Carrying every active row into a new draft (generation_high raised) therefore no longer
# invalidates every server's cached matcher of the active generation (a 5.7 s rebuild).
BUMP_UPDATE = """
CREATE OR REPLACE FUNCTION bump_areas_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (SELECT 1 FROM new_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (SELECT 1 FROM old_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high);
    ELSE
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (
            SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (g.id BETWEEN o.generation_low AND o.generation_high)
                  IS DISTINCT FROM (g.id BETWEEN n.generation_low AND n.generation_high)
               OR (g.id BETWEEN n.generation_low AND n.generation_high
                   AND (o.code, o.level, o.name, o.kind, o.parent_code, o.households, o.population, o.estimated,
                        ST_AsBinary(o.geom))
                       IS DISTINCT FROM (n.code, n.level, n.name, n.kind, n.parent_code, n.households, n.population,
                                         n.estimated, ST_AsBinary(n.geom))));
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    bind = op.get_bind()
    drafts = bind.execute(sa.text("SELECT count(*) FROM generations WHERE status = 'draft'")).scalar_one()
    if drafts > 1:
        raise RuntimeError(f"{drafts} draft generations exist; a planner works on one: activate or delete all but "
                           "one, then migrate again")
    for name in ("created_by", "activated_by", "scheduled_by"):
        op.add_column("generations", sa.Column(name, sa.Text()))
    op.add_column("generations", sa.Column("scheduled_at", sa.DateTime(timezone=True)))
    op.add_column("generations", sa.Column("based_on", sa.Integer()))
    # A draft made before this revision was drawn against the active generation.
    op.execute("UPDATE generations SET based_on = (SELECT id FROM generations WHERE status = 'active') "
               "WHERE status = 'draft'")
    op.add_column("generations", sa.Column("findings", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("generations", sa.Column("summary", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")))
    op.create_index("ix_generations_scheduled", "generations", ["scheduled_at"],
                    postgresql_where=sa.text("status = 'draft' AND scheduled_at IS NOT NULL"))
    # At most one draft (MapIt's rule): every planner edits the same one.
    op.create_index("uq_generations_one_draft", "generations", ["status"], unique=True,
                    postgresql_where=sa.text("status = 'draft'"))
    op.add_column("areas", sa.Column("estimated", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "draft_assignments",
        sa.Column("generation_id", sa.Integer(), sa.ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("area_code", sa.String(15), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("rank", sa.SmallInteger(), primary_key=True),
        sa.Column("worker_id", sa.BigInteger(), sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
    )
    op.execute(BUMP_UPDATE)
    op.create_table(
        "report_current_grids",
        sa.Column("report_id", sa.Uuid(), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("generation_id", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    # Back to 0011's rule (every generation in the old or new range), which reads no column
    # this revision adds.
    op.execute(BUMP_UPDATE.split("    ELSE\n")[0] + """    ELSE
        UPDATE generations g SET areas_revision = g.areas_revision + 1
        WHERE EXISTS (SELECT 1 FROM new_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high)
           OR EXISTS (SELECT 1 FROM old_rows r WHERE g.id BETWEEN r.generation_low AND r.generation_high);
    END IF;
    RETURN NULL;
END $$;
""")
    op.drop_table("report_current_grids")
    op.drop_table("draft_assignments")
    op.drop_column("areas", "estimated")
    op.drop_index("uq_generations_one_draft", table_name="generations")
    op.drop_index("ix_generations_scheduled", table_name="generations")
    for name in ("summary", "findings", "based_on", "scheduled_at", "scheduled_by", "activated_by", "created_by"):
        op.drop_column("generations", name)
