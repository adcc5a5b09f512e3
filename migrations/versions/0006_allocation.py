"""allocation of the customer book: branch areas and managers' claims

``book_customers.area`` and ``prospects.area``: the branch area a customer belongs to (the
import's optional ``area`` column; the allocation page filters by it). ``customer_claims``:
a manager's claim (申领) on a customer of the unallocated book, pending until the
supervisor approves (``prospect_id``: the prospect the allocation created) or refuses it
(``decision_note``), or closed when the customer is allocated otherwise; one pending claim
per customer and manager.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('book_customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_book_customers_area'), ['area'], unique=False)
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area', sa.String(length=64), nullable=True))
    op.create_table(
        'customer_claims',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_no', sa.String(length=32), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', pipeline.db.UTCDateTime(), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.Column('prospect_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused', 'closed')",
                           name=op.f('ck_customer_claims_status')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                                name=op.f('fk_customer_claims_decided_by_id_users')),
        sa.ForeignKeyConstraint(['manager_id'], ['users.id'],
                                name=op.f('fk_customer_claims_manager_id_users')),
        sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], ondelete='SET NULL',
                                name=op.f('fk_customer_claims_prospect_id_prospects')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_claims')),
    )
    with op.batch_alter_table('customer_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_claims_manager_id'), ['manager_id'],
                              unique=False)
        batch_op.create_index('ix_customer_claims_status_created', ['status', 'created_at'],
                              unique=False)
        batch_op.create_index('uq_customer_claims_pending', ['customer_no', 'manager_id'],
                              unique=True, sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table('customer_claims', schema=None) as batch_op:
        batch_op.drop_index('uq_customer_claims_pending',
                            sqlite_where=sa.text("status = 'pending'"),
                            postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index('ix_customer_claims_status_created')
        batch_op.drop_index(batch_op.f('ix_customer_claims_manager_id'))
    op.drop_table('customer_claims')
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_column('area')
    with op.batch_alter_table('book_customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_book_customers_area'))
        batch_op.drop_column('area')
