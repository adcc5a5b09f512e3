"""Reading the audit log: one query per page, newest first, keyset-paginated."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from pipeline.auth.models import AuditEntry, User


@dataclass(frozen=True)
class Row:
    id: int
    at: datetime
    action: str
    actor_email: str | None
    actor_name: str | None
    target_type: str | None
    target_id: int | None
    ip: str | None
    detail: dict | None
    note: str | None


def entries(session: Session, *, action: str | None = None, actor: str | None = None,
            since: datetime | None = None, until: datetime | None = None,
            target_type: str | None = None, target_id: int | None = None,
            before_id: int | None = None, limit: int = 100) -> tuple[list[Row], int | None]:
    """A page of entries matching the filters and the id to continue from (or None)."""
    who = aliased(User)
    stmt = (select(AuditEntry, who.email, who.name)
            .outerjoin(who, who.id == AuditEntry.actor_id)
            .order_by(AuditEntry.id.desc()).limit(limit + 1))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        # The e-mail of the actor, or the e-mail a failed sign-in tried.
        pattern = f"%{actor.strip().lower()}%"
        stmt = stmt.where(func.lower(who.email).like(pattern)
                          | func.lower(AuditEntry.note).like(pattern))
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    found = session.execute(stmt).all()
    rows = [Row(e.id, e.at, e.action, email, name, e.target_type, e.target_id, e.ip, e.detail,
                e.note) for e, email, name in found[:limit]]
    more = rows[-1].id if len(found) > limit else None
    return rows, more
