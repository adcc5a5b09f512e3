"""after-sale work: customer events, task kinds, contact fields

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


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
