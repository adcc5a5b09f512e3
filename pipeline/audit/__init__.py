"""The audit log: who did what, when — sign-ins, failed sign-ins, decisions, reassignments,
exports and views of personal data. Rows are appended by ``pipeline.auth.services.audit``
(in the caller's transaction) and never changed: the ORM refuses updates and deletes.

Importing this package installs that guard (the app factory imports it with the page).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event

from pipeline.auth.models import AuditEntry


class AppendOnly(RuntimeError):
    """An attempt to change or delete an audit entry."""


def _refuse(_mapper: Any, _connection: Any, target: AuditEntry) -> None:
    raise AppendOnly(f"audit entry {target.id} is append-only")


if not event.contains(AuditEntry, "before_update", _refuse):
    event.listen(AuditEntry, "before_update", _refuse)
    event.listen(AuditEntry, "before_delete", _refuse)
