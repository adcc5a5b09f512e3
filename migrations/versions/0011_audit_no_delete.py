"""the audit log refuses DELETE as well as UPDATE

0010 made the database refuse to change an audit entry; entries could still be deleted.
``audit_log_no_delete`` (a row trigger on PostgreSQL and SQLite) refuses every DELETE, from
the app, a script or a console alike: the log is append-only.

Purging old entries on purpose is an operator's act, done in one transaction that lifts
the refusal, deletes, writes an ``audit_purged`` entry saying what went and puts the
refusal back: ``flask --app wsgi audit purge --before YYYY-MM-DD``
(:mod:`pipeline.audit.purge`). On PostgreSQL that needs the table's owner; by hand it is
``BEGIN; ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_delete; DELETE FROM audit_log
WHERE at < '...'; ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_delete; COMMIT;`` (no
other transaction sees the trigger off; other writers of the log wait for the commit).
``TRUNCATE`` fires no row trigger: it stays the table owner's way to empty the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 20:40:00
"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION audit_log_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: entry % cannot be deleted', OLD.id;
END $$"""
PG_TRIGGER = """
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_no_delete()"""
SQLITE_TRIGGER = """
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_no_delete()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
