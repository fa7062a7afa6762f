"""IoT sensing: SensorThings entities, observations, rollups, thresholds and alerts.

Revision ID: sensing_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "sensing_0001"
down_revision = None
branch_labels = ("sensing",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table('sensing_feature_of_interest',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('encoding_type', sa.String(length=100), nullable=False),
    sa.Column('feature', sa.JSON(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_feature_of_interest'))
    )
    op.create_table('sensing_location',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('encoding_type', sa.String(length=100), nullable=False),
    sa.Column('location', sa.JSON(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_location'))
    )
    op.create_table('sensing_observed_property',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('definition', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_observed_property'))
    )
    op.create_table('sensing_sensor',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('encoding_type', sa.String(length=100), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_sensor'))
    )
    op.create_table('sensing_thing',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=True),
    sa.Column('device_secret_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_thing'))
    )
    op.create_table('sensing_datastream',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('observation_type', sa.String(length=200), nullable=False),
    sa.Column('unit_of_measurement', sa.JSON(), nullable=False),
    sa.Column('observed_area', sa.JSON(), nullable=True),
    sa.Column('phenomenon_start', UTCDateTime(), nullable=True),
    sa.Column('phenomenon_end', UTCDateTime(), nullable=True),
    sa.Column('result_start', UTCDateTime(), nullable=True),
    sa.Column('result_end', UTCDateTime(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=True),
    sa.Column('last_value', sa.Float(), nullable=True),
    sa.Column('last_time', UTCDateTime(), nullable=True),
    sa.Column('thing_id', sa.Integer(), nullable=False),
    sa.Column('sensor_id', sa.Integer(), nullable=False),
    sa.Column('observed_property_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['observed_property_id'], ['sensing_observed_property.id'], name=op.f('fk_sensing_datastream_observed_property_id_sensing_observed_property')),
    sa.ForeignKeyConstraint(['sensor_id'], ['sensing_sensor.id'], name=op.f('fk_sensing_datastream_sensor_id_sensing_sensor')),
    sa.ForeignKeyConstraint(['thing_id'], ['sensing_thing.id'], name=op.f('fk_sensing_datastream_thing_id_sensing_thing'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_datastream'))
    )
    op.create_index(op.f('ix_sensing_datastream_observed_property_id'), 'sensing_datastream', ['observed_property_id'], unique=False)
    op.create_index(op.f('ix_sensing_datastream_sensor_id'), 'sensing_datastream', ['sensor_id'], unique=False)
    op.create_index(op.f('ix_sensing_datastream_thing_id'), 'sensing_datastream', ['thing_id'], unique=False)
    op.create_table('sensing_historical_location',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('time', UTCDateTime(), nullable=False),
    sa.Column('thing_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['thing_id'], ['sensing_thing.id'], name=op.f('fk_sensing_historical_location_thing_id_sensing_thing'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_historical_location'))
    )
    op.create_index(op.f('ix_sensing_historical_location_thing_id'), 'sensing_historical_location', ['thing_id'], unique=False)
    op.create_table('sensing_thing_location',
    sa.Column('thing_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['sensing_location.id'], name=op.f('fk_sensing_thing_location_location_id_sensing_location'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thing_id'], ['sensing_thing.id'], name=op.f('fk_sensing_thing_location_thing_id_sensing_thing'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thing_id', 'location_id', name=op.f('pk_sensing_thing_location'))
    )
    op.create_table('sensing_threshold',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('observed_property_id', sa.Integer(), nullable=False),
    sa.Column('thing_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('clear_value', sa.Float(), nullable=True),
    sa.Column('window_minutes', sa.Integer(), nullable=True),
    sa.Column('level', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['observed_property_id'], ['sensing_observed_property.id'], name=op.f('fk_sensing_threshold_observed_property_id_sensing_observed_property'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thing_id'], ['sensing_thing.id'], name=op.f('fk_sensing_threshold_thing_id_sensing_thing'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_threshold'))
    )
    op.create_index(op.f('ix_sensing_threshold_observed_property_id'), 'sensing_threshold', ['observed_property_id'], unique=False)
    op.create_table('sensing_alert',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('threshold_id', sa.String(length=32), nullable=False),
    sa.Column('datastream_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('raised_at', UTCDateTime(), nullable=False),
    sa.Column('cleared_at', UTCDateTime(), nullable=True),
    sa.Column('trigger_value', sa.Float(), nullable=False),
    sa.Column('trigger_time', UTCDateTime(), nullable=False),
    sa.Column('peak_value', sa.Float(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['datastream_id'], ['sensing_datastream.id'], name=op.f('fk_sensing_alert_datastream_id_sensing_datastream'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['threshold_id'], ['sensing_threshold.id'], name=op.f('fk_sensing_alert_threshold_id_sensing_threshold'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_alert'))
    )
    op.create_index(op.f('ix_sensing_alert_datastream_id'), 'sensing_alert', ['datastream_id'], unique=False)
    op.create_index('ix_sensing_alert_open', 'sensing_alert', ['threshold_id', 'datastream_id', 'state'], unique=False)
    op.create_table('sensing_hist_location_location',
    sa.Column('historical_location_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['historical_location_id'], ['sensing_historical_location.id'], name=op.f('fk_sensing_hist_location_location_historical_location_id_sensing_historical_location'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['location_id'], ['sensing_location.id'], name=op.f('fk_sensing_hist_location_location_location_id_sensing_location'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('historical_location_id', 'location_id', name=op.f('pk_sensing_hist_location_location'))
    )
    op.create_table('sensing_observation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('datastream_id', sa.Integer(), nullable=False),
    sa.Column('phenomenon_time', UTCDateTime(), nullable=False),
    sa.Column('phenomenon_end', UTCDateTime(), nullable=True),
    sa.Column('result_time', UTCDateTime(), nullable=True),
    sa.Column('result_number', sa.Float(), nullable=True),
    sa.Column('result_json', sa.JSON(), nullable=True),
    sa.Column('result_quality', sa.JSON(), nullable=True),
    sa.Column('valid_start', UTCDateTime(), nullable=True),
    sa.Column('valid_end', UTCDateTime(), nullable=True),
    sa.Column('parameters', sa.JSON(), nullable=True),
    sa.Column('feature_of_interest_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['datastream_id'], ['sensing_datastream.id'], name=op.f('fk_sensing_observation_datastream_id_sensing_datastream'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['feature_of_interest_id'], ['sensing_feature_of_interest.id'], name=op.f('fk_sensing_observation_feature_of_interest_id_sensing_feature_of_interest')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensing_observation'))
    )
    op.create_index('ix_sensing_observation_ds_time', 'sensing_observation', ['datastream_id', 'phenomenon_time'], unique=False)
    op.create_index(op.f('ix_sensing_observation_feature_of_interest_id'), 'sensing_observation', ['feature_of_interest_id'], unique=False)
    op.create_table('sensing_rollup',
    sa.Column('datastream_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('start', UTCDateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('minimum', sa.Float(), nullable=False),
    sa.Column('maximum', sa.Float(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.Column('last_time', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['datastream_id'], ['sensing_datastream.id'], name=op.f('fk_sensing_rollup_datastream_id_sensing_datastream'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('datastream_id', 'period', 'start', name=op.f('pk_sensing_rollup'))
    )


def downgrade() -> None:
    op.drop_table("sensing_rollup")
    op.drop_table("sensing_observation")
    op.drop_table("sensing_hist_location_location")
    op.drop_table("sensing_alert")
    op.drop_table("sensing_threshold")
    op.drop_table("sensing_thing_location")
    op.drop_table("sensing_historical_location")
    op.drop_table("sensing_datastream")
    op.drop_table("sensing_thing")
    op.drop_table("sensing_sensor")
    op.drop_table("sensing_observed_property")
    op.drop_table("sensing_location")
    op.drop_table("sensing_feature_of_interest")
