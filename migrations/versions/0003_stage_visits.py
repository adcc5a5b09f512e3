"""stage visits kept as rows, written with the history

One row per stage visit (``stage_visits``), kept up to date by every history row from now
on, so the funnel stops re-deriving the visits from the whole history per request. The
existing history is backfilled here with the reference definition of a visit
(``pipeline.reports.queries.visits_subquery``) and of the visit an escalation belongs to
(``escalated_visits``), written out as plain SQL so this revision keeps meaning what it
meant when it was written; tests/reports/test_visits.py checks it against the code.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:40:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ENTERING = ("({t}.from_stage IS NULL OR {t}.from_stage <> {t}.to_stage "
            "OR {t}.event = 'reopen')")
_WINDOW = "OVER (PARTITION BY prospect_id ORDER BY seq)"
_HISTORY = f"""
SELECT prospect_id, seq, at, to_stage, to_status, owner_id, team_id,
       CASE WHEN to_status = 'lost' AND (from_status IS NULL OR from_status <> 'lost')
            THEN 1 ELSE 0 END AS is_lost,
       max(CASE WHEN {ENTERING.format(t='stage_events')} THEN seq END) {_WINDOW} AS start_seq,
       max(CASE WHEN {ENTERING.format(t='stage_events')} THEN at END) {_WINDOW} AS start_at,
       lead(CASE WHEN {ENTERING.format(t='stage_events')} THEN 1 ELSE 0 END, 1, 1) {_WINDOW}
           AS next_is_entry,
       lead(at) {_WINDOW} AS next_at,
       lead(event) {_WINDOW} AS next_event,
       max(CASE WHEN event = 'win' THEN seq END) OVER (PARTITION BY prospect_id) AS last_win_seq
FROM stage_events"""
_ESCALATED = f"""
SELECT DISTINCT e.prospect_id, e.stage,
       (SELECT max(x.seq) FROM stage_events x
        WHERE x.prospect_id = e.prospect_id AND x.at <= e.opened_at
          AND {ENTERING.format(t='x')}) AS start_seq
FROM escalations e"""
# Whole seconds between two timestamps, as pipeline.reports.queries.seconds_between.
SECONDS = {
    "postgresql": "CAST(round(EXTRACT(epoch FROM {end} - {start})) AS INTEGER)",
    "sqlite": "CAST(round((julianday({end}) - julianday({start})) * 86400) AS INTEGER)",
}
_END = "CASE WHEN h.is_lost = 1 THEN h.at ELSE h.next_at END"
BACKFILL = f"""
INSERT INTO stage_visits (prospect_id, start_seq, stage, start_at, end_at, seconds, exit, won,
                          stalled, owner_id, team_id)
SELECT h.prospect_id, h.start_seq, h.to_stage, h.start_at, {_END}, {{seconds}},
       CASE WHEN h.is_lost = 1 THEN 'lost' ELSE h.next_event END,
       CASE WHEN h.last_win_seq >= h.start_seq THEN TRUE ELSE FALSE END,
       CASE WHEN esc.prospect_id IS NOT NULL THEN TRUE ELSE FALSE END,
       h.owner_id, h.team_id
FROM ({_HISTORY}) h
LEFT JOIN ({_ESCALATED}) esc
  ON esc.prospect_id = h.prospect_id AND esc.start_seq = h.start_seq
     AND esc.stage = h.to_stage
WHERE h.is_lost = 1 OR (h.next_is_entry = 1 AND h.to_status <> 'lost')
"""


def backfill_sql(dialect: str) -> str:
    """The INSERT … SELECT of every visit of the history, for ``dialect``."""
    return BACKFILL.format(seconds=SECONDS[dialect].format(end=_END, start="h.start_at"))


def upgrade() -> None:
    op.create_table('stage_visits',
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('start_seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('start_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('end_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('seconds', sa.Integer(), nullable=True),
    sa.Column('exit', sa.String(length=32), nullable=True),
    sa.Column('won', sa.Boolean(), nullable=False),
    sa.Column('stalled', sa.Boolean(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_stage_visits_owner_id_users')),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_stage_visits_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_stage_visits_team_id_teams')),
    sa.PrimaryKeyConstraint('prospect_id', 'start_seq', name=op.f('pk_stage_visits'))
    )
    op.execute(backfill_sql(op.get_bind().dialect.name))
    # Indexes after the backfill: built once from the sorted rows, not row by row.
    with op.batch_alter_table('stage_visits', schema=None) as batch_op:
        batch_op.create_index('ix_stage_visits_end_at', ['end_at'], unique=False)
        batch_op.create_index('ix_stage_visits_owner_stage', ['owner_id', 'stage'], unique=False)
        batch_op.create_index('ix_stage_visits_stage', ['stage', 'seconds'], unique=False,
                              postgresql_include=['start_at', 'end_at', 'exit', 'won', 'stalled'])
        batch_op.create_index('ix_stage_visits_start_at', ['start_at'], unique=False)
        batch_op.create_index('ix_stage_visits_team_stage', ['team_id', 'stage'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stage_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_visits_team_stage')
        batch_op.drop_index('ix_stage_visits_start_at')
        batch_op.drop_index('ix_stage_visits_stage')
        batch_op.drop_index('ix_stage_visits_owner_stage')
        batch_op.drop_index('ix_stage_visits_end_at')
    op.drop_table('stage_visits')
