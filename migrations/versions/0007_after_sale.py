"""after-sale work: customer events, task kinds, contact fields

``cadence_tasks`` becomes the one task list: a ``kind`` (``cadence`` for the first-contact
steps already there), a one-line ``title``, a ``note``, the ``done_note``, the customer
event kind that made it (``source``), a retention's
``outcome``, the contact that closed it and ``escalated_at`` (a retention task reported to
the team lead), with the sweep's partial index of open retention tasks not yet reported.
``contacts`` keeps the ``callback_at`` a contact fixed and the ``override_reason`` of a
call over the monthly cap. ``customer_events`` holds each event of the bank's daily file
once (unique ``event_key``); ``campaigns`` the branch's event-driven marketing (each
affected customer's owner gets a ``campaign`` task, found by its key through a partial
index).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TO_REPORT = "done_at IS NULL AND escalated_at IS NULL AND kind = 'retention'"
CAMPAIGN_TASK = "kind = 'campaign'"


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_at', pipeline.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('override_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False,
                                      server_default=sa.text("'cadence'")))
        batch_op.add_column(sa.Column('title', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('done_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('contact_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', pipeline.db.UTCDateTime(),
                                      nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cadence_tasks_contact_id_contacts'),
                                    'contacts', ['contact_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_cadence_tasks_to_report', ['due_at'], unique=False,
                              postgresql_where=sa.text(TO_REPORT),
                              sqlite_where=sa.text(TO_REPORT))
        batch_op.create_index('ix_cadence_tasks_campaign', ['key'], unique=False,
                              postgresql_where=sa.text(CAMPAIGN_TASK),
                              sqlite_where=sa.text(CAMPAIGN_TASK))
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('note', sa.String(length=2000), nullable=True),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('criteria', pipeline.db.JSONData(), nullable=False),
        sa.Column('customers', sa.Integer(), nullable=False),
        sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_campaigns_created_by_id_users')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'],
                                name=op.f('fk_campaigns_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_team_id'), ['team_id'], unique=False)
    op.create_table(
        'customer_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_key', sa.String(length=300), nullable=False),
        sa.Column('customer_no', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('amount', sa.Double(), nullable=True),
        sa.Column('product', sa.String(length=200), nullable=True),
        sa.Column('prospect_id', sa.Integer(), nullable=True),
        sa.Column('imported_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('maturity', 'large_outflow', 'tier_drop', 'repayment_due')",
            name=op.f('ck_customer_events_kind')),
        sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'],
                                name=op.f('fk_customer_events_prospect_id_prospects'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_events')),
        sa.UniqueConstraint('event_key', name=op.f('uq_customer_events_event_key')),
    )
    with op.batch_alter_table('customer_events', schema=None) as batch_op:
        batch_op.create_index('ix_customer_events_prospect', ['prospect_id', 'day'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_customer_events_customer_no'), ['customer_no'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('customer_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_events_customer_no'))
        batch_op.drop_index('ix_customer_events_prospect')
    op.drop_table('customer_events')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_team_id'))
    op.drop_table('campaigns')
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_cadence_tasks_campaign',
                            postgresql_where=sa.text(CAMPAIGN_TASK),
                            sqlite_where=sa.text(CAMPAIGN_TASK))
        batch_op.drop_index('ix_cadence_tasks_to_report',
                            postgresql_where=sa.text(TO_REPORT),
                            sqlite_where=sa.text(TO_REPORT))
        batch_op.drop_constraint(batch_op.f('fk_cadence_tasks_contact_id_contacts'),
                                 type_='foreignkey')
        for column in ('escalated_at', 'contact_id', 'outcome', 'source', 'done_note', 'note',
                       'title', 'kind'):
            batch_op.drop_column(column)
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('override_reason')
        batch_op.drop_column('callback_at')
