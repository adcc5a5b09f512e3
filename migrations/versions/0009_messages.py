"""messages to customers: the SMS outbox, replies, edited templates, senders' phones

``sms_messages``: one SMS per row, written with the change that causes it (status queued,
sent, delivered or failed; attempts, next attempt, the last error's code, the gateway's
id); the worker's work list is a partial index of the queued ones. ``sms_replies``: what
customers sent back. ``sms_templates``: a supervisor's text of a workflow template in one
language, overriding the file's. ``sms_senders``: the phone a manager signs with.
``prospects.sms_opt_out``: the customer asked for no SMS. ``cadence_tasks.cancelled_at``:
a step cancelled (the customer replied) rather than done.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TO_SEND = "status = 'queued'"


def upgrade() -> None:
    op.create_table(
        'sms_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('prospect_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('sent_by_id', sa.Integer(), nullable=True),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('step', sa.String(length=64), nullable=True),
        sa.Column('clock_no', sa.Integer(), nullable=True),
        sa.Column('phone', sa.String(length=40), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('segments', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('last_error', sa.String(length=64), nullable=True),
        sa.Column('gateway_id', sa.String(length=100), nullable=True),
        sa.Column('dedupe_key', sa.String(length=160), nullable=True),
        sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('sent_at', pipeline.db.UTCDateTime(), nullable=True),
        sa.Column('delivered_at', pipeline.db.UTCDateTime(), nullable=True),
        sa.Column('failed_at', pipeline.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent', 'delivered', 'failed')",
                           name=op.f('ck_sms_messages_status')),
        sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], ondelete='CASCADE',
                                name=op.f('fk_sms_messages_prospect_id_prospects')),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'],
                                name=op.f('fk_sms_messages_owner_id_users')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'],
                                name=op.f('fk_sms_messages_team_id_teams')),
        sa.ForeignKeyConstraint(['sent_by_id'], ['users.id'],
                                name=op.f('fk_sms_messages_sent_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages')),
        sa.UniqueConstraint('gateway_id', name=op.f('uq_sms_messages_gateway_id')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_sms_messages_dedupe_key')),
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index('ix_sms_messages_to_send', ['next_attempt_at'], unique=False,
                              postgresql_where=sa.text(TO_SEND), sqlite_where=sa.text(TO_SEND))
        batch_op.create_index('ix_sms_messages_prospect', ['prospect_id', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_sms_messages_owner_created', ['owner_id', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_sms_messages_phone', ['phone'], unique=False)
    op.create_table(
        'sms_replies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('prospect_id', sa.Integer(), nullable=True),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('gateway_id', sa.String(length=100), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('opt_out', sa.Boolean(), nullable=False),
        sa.Column('received_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], ondelete='CASCADE',
                                name=op.f('fk_sms_replies_prospect_id_prospects')),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'],
                                name=op.f('fk_sms_replies_owner_id_users')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'],
                                name=op.f('fk_sms_replies_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_replies')),
        sa.UniqueConstraint('gateway_id', name=op.f('uq_sms_replies_gateway_id')),
    )
    with op.batch_alter_table('sms_replies', schema=None) as batch_op:
        batch_op.create_index('ix_sms_replies_prospect', ['prospect_id', 'received_at'],
                              unique=False)
    op.create_table(
        'sms_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workflow_key', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('locale', sa.String(length=10), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                                name=op.f('fk_sms_templates_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_templates')),
        sa.UniqueConstraint('workflow_key', 'key', 'locale', name='uq_sms_templates_key'),
    )
    op.create_table(
        'sms_senders',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=40), nullable=False),
        sa.Column('updated_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                                name=op.f('fk_sms_senders_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_sms_senders')),
    )
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_opt_out', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', pipeline.db.UTCDateTime(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.drop_column('cancelled_at')
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_column('sms_opt_out')
    op.drop_table('sms_senders')
    op.drop_table('sms_templates')
    with op.batch_alter_table('sms_replies', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_replies_prospect')
    op.drop_table('sms_replies')
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_messages_phone')
        batch_op.drop_index('ix_sms_messages_owner_created')
        batch_op.drop_index('ix_sms_messages_prospect')
        batch_op.drop_index('ix_sms_messages_to_send')
    op.drop_table('sms_messages')
