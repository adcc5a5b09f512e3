"""sessions, tokens and the audit of record edits and views

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:00:00
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
