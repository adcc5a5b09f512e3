"""Purging old audit entries on purpose: the one way past the database's refusal.

The audit log is append-only in the database (migrations 0010 and 0011: triggers refuse
every UPDATE and DELETE). An operator who must drop old entries (a retention period) runs
``flask --app wsgi audit purge --before YYYY-MM-DD``: one transaction lifts the DELETE
refusal, deletes the entries written before that day, writes an ``audit_purged`` entry
saying how many went and up to when, and puts the refusal back. If anything fails, the
transaction rolls back and the refusal was never lifted for anyone else.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pipeline.auth.models import AuditEntry
from pipeline.auth.services import audit
from pipeline.db import unit_of_work

TRIGGER = "audit_log_no_delete"
LOCK_TIMEOUT = "5s"  # PostgreSQL: how long a purge waits for the table's lock
# As migration 0011 creates it on SQLite (dropped and created again around a purge).
SQLITE_TRIGGER = f"""
CREATE TRIGGER {TRIGGER} BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END"""


@contextmanager
def deletes_allowed(conn: Connection) -> Iterator[None]:
    """Inside ``conn``'s transaction, let DELETE on the audit log through, and refuse it
    again before the block ends.

    PostgreSQL: ``ALTER TABLE ... DISABLE TRIGGER`` (the table's owner only; other
    transactions never see the trigger off), whose lock keeps every other writer of the
    log waiting until the transaction ends (readers go on); it waits at most
    ``LOCK_TIMEOUT`` for a writer already there, then fails and changes nothing. SQLite: the trigger is dropped and created again, both in
    the transaction. If the block raises, the caller must roll back (which restores the
    trigger on both backends); it is not restored here, on a transaction already failed.
    """
    if not conn.in_transaction():
        raise RuntimeError("the audit log's guard is lifted only inside a transaction")
    if conn.dialect.name == "postgresql":
        # Waiting for the lock would queue every audit write behind it: give up instead.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        conn.exec_driver_sql(f"ALTER TABLE audit_log DISABLE TRIGGER {TRIGGER}")
        yield
        conn.exec_driver_sql(f"ALTER TABLE audit_log ENABLE TRIGGER {TRIGGER}")
    else:
        conn.exec_driver_sql(f"DROP TRIGGER {TRIGGER}")
        yield
        conn.exec_driver_sql(SQLITE_TRIGGER)


def purge(session: Session, before: datetime) -> int:
    """Delete the audit entries written before ``before`` and note it in the log: how many
    and the cut-off (the note itself is kept). One transaction; returns how many went."""
    with unit_of_work(session):
        with deletes_allowed(session.connection()):
            deleted = session.execute(delete(AuditEntry).where(AuditEntry.at < before)
                                      .execution_options(synchronize_session=False)).rowcount
        audit(session, "audit_purged", target_type="audit_log",
              detail={"before": before.isoformat(), "deleted": deleted})
    return deleted
