"""the reminders' index holds the first-contact steps only

``ix_cadence_tasks_to_remind`` (open, not yet reminded tasks by due time) also held every
after-sale task: a daily customer-event feed of a million rows put most of its tasks in the
range of the last month that the sweep reads every few minutes, and the sweep walked past
each of them (its prospect looked up) to find no first-contact step. The index now holds
``kind = 'cadence'`` only, as the reminder step asks.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 21:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

BEFORE = "done_at IS NULL AND reminded_at IS NULL"
AFTER = "done_at IS NULL AND reminded_at IS NULL AND kind = 'cadence'"


def _index(where: str) -> None:
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_cadence_tasks_to_remind')
        batch_op.create_index('ix_cadence_tasks_to_remind', ['due_at'], unique=False,
                              postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    _index(AFTER)


def downgrade() -> None:
    _index(BEFORE)
