"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22

The area hierarchy with boundary generations, subdivided lookup pieces, workers and their
assignments, reports, and dataset stamps.
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostGIS needs a superuser the first time; `make db` (scripts/ensure-postgis.sh) creates
    # both extensions ahead of us, so on a least-privilege role these are no-ops.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table('dataset_stamps',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_dataset_stamps'))
    )
    op.create_table('generations',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'retired', name='generation_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generations'))
    )
    op.create_index('uq_generations_one_active', 'generations', ['status'], unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_geospatial_table('workers',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('staff_no', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('public_name', sa.Text(), nullable=False),
    sa.Column('role', sa.Enum('grid_worker', 'community_lead', 'street_lead', 'district_lead', 'city_center', name='worker_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('on_duty', sa.Boolean(), nullable=False),
    sa.Column('last_position', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers')),
    sa.UniqueConstraint('staff_no', name=op.f('uq_workers_staff_no'))
    )
    op.create_geospatial_index('ix_workers_last_position', 'workers', ['last_position'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('areas',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('level', sa.Enum('city', 'district', 'street', 'community', 'grid', name='area_level', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Enum('urban', 'rural', 'dedicated', name='area_kind', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('parent_code', sa.String(length=15), nullable=True),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('generation_low', sa.Integer(), nullable=False),
    sa.Column('generation_high', sa.Integer(), nullable=False),
    postgresql.ExcludeConstraint((sa.column('code'), '='), (sa.text("int4range(generation_low, generation_high, '[]')"), '&&'), using='gist', name='ex_areas_code_generations'),
    sa.CheckConstraint("char_length(code) = CASE level WHEN 'city' THEN 6 WHEN 'district' THEN 6 WHEN 'street' THEN 9 WHEN 'community' THEN 12 ELSE 15 END", name=op.f('ck_areas_code_length')),
    sa.CheckConstraint("code ~ '^[0-9]+$'", name=op.f('ck_areas_code_digits')),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name=op.f('ck_areas_geom_valid')),
    sa.CheckConstraint('generation_low <= generation_high', name=op.f('ck_areas_generation_range')),
    sa.CheckConstraint('households >= 0 AND population >= 0', name=op.f('ck_areas_counts_nonnegative')),
    sa.ForeignKeyConstraint(['generation_high'], ['generations.id'], name=op.f('fk_areas_generation_high_generations')),
    sa.ForeignKeyConstraint(['generation_low'], ['generations.id'], name=op.f('fk_areas_generation_low_generations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_areas'))
    )
    op.create_index('ix_areas_generations', 'areas', ['generation_low', 'generation_high'], unique=False)
    op.create_geospatial_index('ix_areas_geom', 'areas', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_areas_level_code', 'areas', ['level', 'code'], unique=False)
    op.create_index('ix_areas_parent_code', 'areas', ['parent_code'], unique=False)
    op.create_table('assignments',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('worker_id', sa.BigInteger(), nullable=False),
    sa.Column('area_code', sa.String(length=15), nullable=False),
    sa.Column('role', sa.Enum('primary', 'backup', 'lead', name='assignment_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_assignments_worker_id_workers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    op.create_index('ix_assignments_area_code', 'assignments', ['area_code'], unique=False)
    op.create_index('ix_assignments_worker_id', 'assignments', ['worker_id'], unique=False)
    op.create_index('uq_assignments_one_primary', 'assignments', ['area_code'], unique=True, postgresql_where=sa.text("role = 'primary' AND ended_at IS NULL"))
    op.create_geospatial_table('reports',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('category', sa.String(length=2), nullable=False),
    sa.Column('subcategory', sa.String(length=4), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source', sa.Enum('citizen', 'grid_worker', 'hotline_12345', 'video', 'other', name='report_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('orig_x', sa.Float(precision=53), nullable=True),
    sa.Column('orig_y', sa.Float(precision=53), nullable=True),
    sa.Column('orig_crs', sa.String(length=16), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('registered', 'dispatched', 'in_progress', 'resolved', 'closed', 'rejected', 'duplicate', name='report_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('generation_id', sa.Integer(), nullable=True),
    sa.Column('match_kind', sa.Enum('inside', 'edge', 'snapped', 'unassigned', name='match_kind', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('assigned_worker_id', sa.BigInteger(), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rating', sa.SmallInteger(), nullable=True),
    sa.Column('reporter_name', sa.Text(), nullable=True),
    sa.Column('reporter_phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("category ~ '^[0-9]{2}$'", name=op.f('ck_reports_category_code')),
    sa.CheckConstraint("subcategory IS NULL OR (subcategory ~ '^[0-9]{4}$' AND left(subcategory, 2) = category)", name=op.f('ck_reports_subcategory_code')),
    sa.CheckConstraint('(grid_code IS NULL) = (generation_id IS NULL)', name=op.f('ck_reports_grid_with_generation')),
    sa.CheckConstraint('rating IS NULL OR rating BETWEEN 1 AND 5', name=op.f('ck_reports_rating_range')),
    sa.ForeignKeyConstraint(['assigned_worker_id'], ['workers.id'], name=op.f('fk_reports_assigned_worker_id_workers')),
    sa.ForeignKeyConstraint(['generation_id'], ['generations.id'], name=op.f('fk_reports_generation_id_generations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    op.create_index('ix_reports_category_reported_at', 'reports', ['category', 'reported_at'], unique=False)
    op.create_index('ix_reports_grid_code_reported_at', 'reports', ['grid_code', 'reported_at'], unique=False)
    op.create_geospatial_index('ix_reports_location', 'reports', ['location'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index('ix_reports_open_status', 'reports', ['status'], unique=False, postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"))
    op.create_index('ix_reports_reported_at', 'reports', ['reported_at'], unique=False)
    op.create_geospatial_table('area_pieces',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('area_id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('level', sa.Enum('city', 'district', 'street', 'community', 'grid', name='area_piece_level', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('generation_low', sa.Integer(), nullable=False),
    sa.Column('generation_high', sa.Integer(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_area_pieces_area_id_areas'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_area_pieces'))
    )
    op.create_index('ix_area_pieces_area_id', 'area_pieces', ['area_id'], unique=False)
    op.create_geospatial_index('ix_area_pieces_geom', 'area_pieces', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})


def downgrade() -> None:
    op.drop_geospatial_index('ix_area_pieces_geom', table_name='area_pieces', postgresql_using='gist', column_name='geom')
    op.drop_index('ix_area_pieces_area_id', table_name='area_pieces')
    op.drop_geospatial_table('area_pieces')
    op.drop_index('ix_reports_reported_at', table_name='reports')
    op.drop_index('ix_reports_open_status', table_name='reports', postgresql_where=sa.text("status IN ('registered', 'dispatched', 'in_progress')"))
    op.drop_geospatial_index('ix_reports_location', table_name='reports', postgresql_using='gist', column_name='location')
    op.drop_index('ix_reports_grid_code_reported_at', table_name='reports')
    op.drop_index('ix_reports_category_reported_at', table_name='reports')
    op.drop_geospatial_table('reports')
    op.drop_index('uq_assignments_one_primary', table_name='assignments', postgresql_where=sa.text("role = 'primary' AND ended_at IS NULL"))
    op.drop_index('ix_assignments_worker_id', table_name='assignments')
    op.drop_index('ix_assignments_area_code', table_name='assignments')
    op.drop_table('assignments')
    op.drop_index('ix_areas_parent_code', table_name='areas')
    op.drop_index('ix_areas_level_code', table_name='areas')
    op.drop_geospatial_index('ix_areas_geom', table_name='areas', postgresql_using='gist', column_name='geom')
    op.drop_index('ix_areas_generations', table_name='areas')
    op.drop_geospatial_table('areas')
    op.drop_geospatial_index('ix_workers_last_position', table_name='workers', postgresql_using='gist', column_name='last_position')
    op.drop_geospatial_table('workers')
    op.drop_index('uq_generations_one_active', table_name='generations', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('generations')
    op.drop_table('dataset_stamps')
