"""the whole-branch board's index and the escalation queue's by age

``ix_prospects_board_order``: the open prospects (active, paused, won) by workflow, stage,
due time and id, with their status beside (PostgreSQL), and ``ix_prospects_open_stage``,
the same prospects by workflow and stage only. A supervisor's "all teams" board reads each
column's first cards and its overdue ones as ranges of the first and counts the columns
from the second, instead of ranking every open prospect of the branch.

``ix_escalations_status_opened``: the open escalations by age, so a queue's page (oldest
or newest first, every level) is read in order instead of sorting a province's open
escalations.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BOARD_OPEN = "status IN ('active', 'paused', 'won')"


def upgrade() -> None:
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.create_index('ix_prospects_board_order',
                              ['workflow_key', 'stage', 'due_at', 'id'], unique=False,
                              postgresql_where=sa.text(BOARD_OPEN),
                              sqlite_where=sa.text(BOARD_OPEN),
                              postgresql_include=['status'])
        batch_op.create_index('ix_prospects_open_stage', ['workflow_key', 'stage'],
                              unique=False, postgresql_where=sa.text(BOARD_OPEN),
                              sqlite_where=sa.text(BOARD_OPEN))
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index('ix_escalations_status_opened', ['status', 'opened_at', 'id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('ix_escalations_status_opened')
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_index('ix_prospects_open_stage')
        batch_op.drop_index('ix_prospects_board_order')
