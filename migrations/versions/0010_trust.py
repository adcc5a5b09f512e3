"""sessions, tokens and the audit of record edits and views

* ``users.session_version``: part of every session's and remember cookie's user id;
  signing out or changing the password moves it on, which ends every session of the user.
  Existing users start at 1 (cookies issued before this revision hold no version and are
  no longer accepted: everybody signs in once more).
* ``api_tokens.expires_at`` (every token expires; tokens issued before this revision expire
  90 days after the upgrade) and ``api_tokens.name`` (what the owner uses it for).
* ``ix_audit_log_action_ip_at``: the sign-in throttle counts recent failures per address.
* ``audit_log_append_only``: the database itself refuses to change an audit entry (a
  trigger on PostgreSQL and SQLite), whatever program or console tries; entries can
  still be deleted by a database administrator purging old ones.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:00:00
"""
from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

EXISTING_TOKEN_DAYS = 90
PG_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: entry % cannot be changed', OLD.id;
END $$"""
PG_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"""
SQLITE_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False,
                                      server_default='1'))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('expires_at', pipeline.db.UTCDateTime(), nullable=True))
    expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=EXISTING_TOKEN_DAYS)
    op.execute(sa.text("UPDATE api_tokens SET expires_at = :expiry").bindparams(
        sa.bindparam("expiry", expiry, type_=sa.DateTime())))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=pipeline.db.UTCDateTime(),
                              nullable=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_ip_at', ['action', 'ip', 'at'],
                              unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only"
               + (" ON audit_log" if op.get_bind().dialect.name == 'postgresql' else ""))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action_ip_at')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('name')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
