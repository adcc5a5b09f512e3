"""an index of the losses in the history

The funnel's lost reasons read the rows that lose a prospect (``to_status = 'lost'``), a
few per cent of a branch's history, by stage and period: without an index that was a scan
of every history row per page (about 0.5 s over two million rows). ``ix_stage_events_lost``
holds the losses only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 22:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

LOST = "to_status = 'lost'"


def upgrade() -> None:
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.create_index('ix_stage_events_lost', ['to_stage', 'at'], unique=False,
                              postgresql_where=sa.text(LOST), sqlite_where=sa.text(LOST))


def downgrade() -> None:
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_events_lost')
