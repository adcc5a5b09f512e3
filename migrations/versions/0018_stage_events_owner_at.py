"""the history's rows by manager and time

The daily sheet counts a manager's moves of one day, and its totals those of a team's
managers (or a branch's). With an index on the manager alone, each manager's whole
history was intersected with every row of the day in the branch; an index on the
manager and the time reads only that manager's rows of the day. It replaces the index on
the manager alone, which it serves as well (one index to write per history row, as
before).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 00:50:00
"""
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.create_index('ix_stage_events_owner_at', ['owner_id', 'at'], unique=False)
        batch_op.drop_index('ix_stage_events_owner_id')


def downgrade() -> None:
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.create_index('ix_stage_events_owner_id', ['owner_id'], unique=False)
        batch_op.drop_index('ix_stage_events_owner_at')
