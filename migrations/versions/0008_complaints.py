"""complaints: cases of the complaint workflow beside the customer's prospect

A complaint is a row of ``prospects`` (the case: stage, status, handler, the whole-case
limit) whose new ``customer_id`` names the customer's own prospect; ``complaints`` holds
what was received (summary, category, when, by whom, the employee it names), and
``complaint_actions`` the corrective actions on recurring causes, each with its owner.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_prospects_customer_id'), ['customer_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_prospects_customer_id_prospects'),
                                    'prospects', ['customer_id'], ['id'], ondelete='CASCADE')
    op.create_table(
        'complaints',
        sa.Column('prospect_id', sa.Integer(), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=True),
        sa.Column('received_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('received_by_id', sa.Integer(), nullable=False),
        sa.Column('named_user_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'],
                                name=op.f('fk_complaints_prospect_id_prospects'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['received_by_id'], ['users.id'],
                                name=op.f('fk_complaints_received_by_id_users')),
        sa.ForeignKeyConstraint(['named_user_id'], ['users.id'],
                                name=op.f('fk_complaints_named_user_id_users')),
        sa.PrimaryKeyConstraint('prospect_id', name=op.f('pk_complaints')),
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_received_at'), ['received_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_named_user_id'), ['named_user_id'],
                              unique=False)
    op.create_table(
        'complaint_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workflow_key', sa.String(length=64), nullable=False),
        sa.Column('cause', sa.String(length=64), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('done_at', pipeline.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'],
                                name=op.f('fk_complaint_actions_owner_id_users')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_complaint_actions_created_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_actions')),
    )
    with op.batch_alter_table('complaint_actions', schema=None) as batch_op:
        batch_op.create_index('ix_complaint_actions_cause', ['workflow_key', 'cause'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('complaint_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_actions_cause')
    op.drop_table('complaint_actions')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_named_user_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_received_at'))
        batch_op.drop_index(batch_op.f('ix_complaints_category'))
    op.drop_table('complaints')
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_prospects_customer_id_prospects'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_prospects_customer_id'))
        batch_op.drop_column('customer_id')
