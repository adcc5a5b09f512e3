"""the customer book: customer number, birthday, potential on the prospect

A customer is one customer with one manager: a ``customer_no`` or a full ID number belongs
to at most one prospect that is not lost (partial unique indexes). Plain indexes on the
customer number, ID number and phone number let a search by a whole number use an index,
lost prospects included. ``tier_manual`` says the tier was set by hand: every prospect
that exists before this revision had its tier chosen by a person, so they are all marked
so, and a later change of their assets does not recompute it.

Existing prospects that already share an ID number while not lost would break the unique
index: the upgrade then stops before changing anything and says how many there are (no
number or name is printed); mark the extra prospects lost or correct their ID numbers,
then upgrade again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

HELD_CUSTOMER_NO = "status <> 'lost' AND customer_no IS NOT NULL"
HELD_ID_NUMBER = "status <> 'lost' AND id_number IS NOT NULL"
DUPLICATE_ID_NUMBERS = f"""
SELECT count(*), coalesce(sum(n), 0) FROM (
    SELECT count(*) AS n FROM prospects WHERE {HELD_ID_NUMBER}
    GROUP BY id_number HAVING count(*) > 1
) d"""


class DuplicateCustomers(RuntimeError):
    """Existing prospects share an ID number while not lost."""


def check_duplicates(bind) -> None:  # noqa: ANN001
    numbers, prospects = bind.execute(sa.text(DUPLICATE_ID_NUMBERS)).one()
    if numbers:
        raise DuplicateCustomers(
            f"cannot add the one-customer-one-manager rule: {numbers} ID number(s) are each "
            f"held by more than one prospect that is not lost ({prospects} prospects in "
            "all). Resolve these duplicates first (mark the extra prospects lost, or correct "
            "their ID numbers), then upgrade again.")


def upgrade() -> None:
    check_duplicates(op.get_bind())
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_no', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('potential', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('tier_manual', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_check_constraint(
            op.f('ck_prospects_potential'), "potential IN ('high', 'low')")
    op.execute(sa.text("UPDATE prospects SET tier_manual = TRUE"))
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.create_index('uq_prospects_customer_no', ['customer_no'], unique=True,
                              postgresql_where=sa.text(HELD_CUSTOMER_NO),
                              sqlite_where=sa.text(HELD_CUSTOMER_NO))
        batch_op.create_index('uq_prospects_id_number', ['id_number'], unique=True,
                              postgresql_where=sa.text(HELD_ID_NUMBER),
                              sqlite_where=sa.text(HELD_ID_NUMBER))
        batch_op.create_index('ix_prospects_customer_no', ['customer_no'], unique=False)
        batch_op.create_index('ix_prospects_id_number', ['id_number'], unique=False)
        batch_op.create_index('ix_prospects_phone', ['phone'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_index('ix_prospects_phone')
        batch_op.drop_index('ix_prospects_id_number')
        batch_op.drop_index('ix_prospects_customer_no')
        batch_op.drop_index('uq_prospects_id_number')
        batch_op.drop_index('uq_prospects_customer_no')
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_prospects_potential'), type_='check')
        batch_op.drop_column('tier_manual')
        batch_op.drop_column('potential')
        batch_op.drop_column('birthday')
        batch_op.drop_column('customer_no')
