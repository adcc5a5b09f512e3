"""SMS templates and message delivery

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


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
