"""the funnel's index includes the prospect

The funnel counts each prospect once per stage (``count(DISTINCT prospect_id)``), and
``ix_stage_visits_stage`` did not hold ``prospect_id``: every stage became a read of the
table's rows instead of the index alone. The index now includes it (PostgreSQL; SQLite
has no INCLUDE and keeps the plain index).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 21:40:00
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BEFORE = ['start_at', 'end_at', 'exit', 'won', 'stalled']
AFTER = [*BEFORE, 'prospect_id']


def _index(include: list[str]) -> None:
    with op.batch_alter_table('stage_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_visits_stage')
        batch_op.create_index('ix_stage_visits_stage', ['stage', 'seconds'], unique=False,
                              postgresql_include=include)


def upgrade() -> None:
    _index(AFTER)


def downgrade() -> None:
    _index(BEFORE)
