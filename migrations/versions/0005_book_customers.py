"""the branch's unallocated book: customers imported without a manager

One row per customer the branch has but no manager maintains yet (``book_customers``):
the customer number (unique), the customer's fields as the import checked them, the tier
(``tier_manual`` when the file gave it), when it was imported and last updated.
Allocation creates the customer's prospect and removes the row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'book_customers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_no', sa.String(length=32), nullable=False),
        sa.Column('workflow_key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('id_number', sa.String(length=40), nullable=True),
        sa.Column('phone', sa.String(length=40), nullable=True),
        sa.Column('birthday', sa.Date(), nullable=True),
        sa.Column('assets', sa.Double(), nullable=True),
        sa.Column('potential', sa.String(length=8), nullable=True),
        sa.Column('tier', sa.String(length=20), nullable=False),
        sa.Column('tier_manual', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('imported_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', pipeline.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("potential IN ('high', 'low')",
                           name=op.f('ck_book_customers_potential')),
        sa.CheckConstraint("tier IN ('diamond', 'black_gold', 'platinum', 'gold')",
                           name=op.f('ck_book_customers_tier')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_book_customers')),
        sa.UniqueConstraint('customer_no', name=op.f('uq_book_customers_customer_no')),
        sa.UniqueConstraint('id_number', name=op.f('uq_book_customers_id_number')),
    )
    with op.batch_alter_table('book_customers', schema=None) as batch_op:
        batch_op.create_index('ix_book_customers_tier_assets', ['tier', 'assets'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_book_customers_phone'), ['phone'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('book_customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_book_customers_phone'))
        batch_op.drop_index('ix_book_customers_tier_assets')
    op.drop_table('book_customers')
