"""Open311: the coordinate system a system key sends its positions in

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

``api_tokens.crs`` names the crs in which a key's holder sends ``lat``/``long`` through the
Open311 GeoReport v2 endpoints (``/open311/v2/``), whose form has no field for it: NULL means
WGS-84, as the specification says; a hotline system built on Amap or Tencent maps sends
GCJ-02 (``gridmap tokens issue --crs gcj02``). Only the geographic systems intake converts
are allowed: Open311 positions are degrees.
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("crs", sa.String(16)))
    op.create_check_constraint(op.f("ck_api_tokens_crs_geographic"), "api_tokens",
                               "crs IS NULL OR crs IN ('wgs84', 'cgcs2000', 'gcj02', 'bd09')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_tokens_crs_geographic"), "api_tokens", type_="check")
    op.drop_column("api_tokens", "crs")
