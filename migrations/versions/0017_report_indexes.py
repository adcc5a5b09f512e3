"""indexes of the after-sale report's figures

The after-sale report counts, over a period, the retention tasks and maturities due, the
customers who left, the calls over the cap, the contact-frequency escalations and the
after-sale customers by tier. Without these each was a scan of a whole table (the tasks,
the history, the contacts, every prospect): a branch's report read about half a
gigabyte per page. Each index holds only the rows its figure reads, where a condition
says which (after-sale tasks, tasks with a source, leaving rows, calls with a reason).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 00:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

AFTER_SALE_TASK = "kind <> 'cadence'"
SOURCED_TASK = "source IS NOT NULL"
LEAVING = "event = 'leave'"
OVER_CAP = "override_reason IS NOT NULL"


def _partial(table: str, name: str, columns: list[str], where: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(name, columns, unique=False,
                              postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    _partial('cadence_tasks', 'ix_cadence_tasks_after_sale_due', ['kind', 'due_at'],
             AFTER_SALE_TASK)
    _partial('cadence_tasks', 'ix_cadence_tasks_source_due', ['source', 'due_at'],
             SOURCED_TASK)
    _partial('stage_events', 'ix_stage_events_leave', ['at'], LEAVING)
    _partial('contacts', 'ix_contacts_over_cap', ['at'], OVER_CAP)
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index('ix_escalations_kind_opened', ['kind', 'opened_at'],
                              unique=False)
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.create_index('ix_prospects_status_owner', ['status', 'owner_id', 'tier'],
                              unique=False)


def downgrade() -> None:
    for table, name in (('prospects', 'ix_prospects_status_owner'),
                        ('escalations', 'ix_escalations_kind_opened'),
                        ('contacts', 'ix_contacts_over_cap'),
                        ('stage_events', 'ix_stage_events_leave'),
                        ('cadence_tasks', 'ix_cadence_tasks_source_due'),
                        ('cadence_tasks', 'ix_cadence_tasks_after_sale_due')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
