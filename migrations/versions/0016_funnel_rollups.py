"""the funnel's rollups, built by a job

The whole branch's funnel page, unfiltered, reads rollups instead of every stage visit: a
job (``flask --app wsgi reports rollup``, and the in-process scheduler) replaces them in one
transaction. Visits by stage and start day, the prospects' first ones counted apart and
the others with the day of the same prospect's previous visit into the stage (exact
distinct counts over any period of whole days); time in stage by end day and whole days,
with the hours of each day (percentiles within an hour); cohorts by the day of first
entry. Empty until the first build: the funnel reads the visits until then.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 23:55:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rollup_builds',
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('built_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('build_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('workflow_key', name=op.f('pk_rollup_builds'))
    )
    op.create_table('rollup_visits',
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('entered', sa.Integer(), nullable=False),
    *[sa.Column(name, sa.Integer(), nullable=False)
      for name in ('advanced', 'lost', 'back', 'won', 'stalled')]
    )
    op.create_index('ix_rollup_visits_workflow_day', 'rollup_visits',
                    ['workflow_key', 'day'], unique=False)
    op.create_table('rollup_reentries',
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('exit_kind', sa.String(length=16), nullable=True),
    sa.Column('won', sa.Boolean(), nullable=False),
    sa.Column('stalled', sa.Boolean(), nullable=False),
    sa.Column('prev_day', sa.Integer(), nullable=True),
    sa.Column('prev_exit_day', sa.Integer(), nullable=True),
    sa.Column('prev_won_day', sa.Integer(), nullable=True),
    sa.Column('prev_stalled_day', sa.Integer(), nullable=True),
    sa.Column('n', sa.Integer(), nullable=False)
    )
    op.create_index('ix_rollup_reentries_workflow_day', 'rollup_reentries',
                    ['workflow_key', 'day'], unique=False)
    op.create_table('rollup_durations',
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('span', sa.String(length=8), nullable=False),
    sa.Column('end_day', sa.Integer(), nullable=True),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    *[sa.Column(f'h{i:02d}', sa.Integer(), nullable=False) for i in range(24)]
    )
    op.create_index('ix_rollup_durations_workflow_span', 'rollup_durations',
                    ['workflow_key', 'span', 'end_day'], unique=False)
    op.create_table('rollup_cohorts',
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('first_day', sa.Integer(), nullable=False),
    sa.Column('furthest', sa.Integer(), nullable=False),
    sa.Column('lost_now', sa.Boolean(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False)
    )
    op.create_index('ix_rollup_cohorts_workflow_day', 'rollup_cohorts',
                    ['workflow_key', 'first_day'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rollup_cohorts_workflow_day', table_name='rollup_cohorts')
    op.drop_table('rollup_cohorts')
    op.drop_index('ix_rollup_durations_workflow_span', table_name='rollup_durations')
    op.drop_table('rollup_durations')
    op.drop_index('ix_rollup_reentries_workflow_day', table_name='rollup_reentries')
    op.drop_table('rollup_reentries')
    op.drop_index('ix_rollup_visits_workflow_day', table_name='rollup_visits')
    op.drop_table('rollup_visits')
    op.drop_table('rollup_builds')
