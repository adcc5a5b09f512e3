"""Reads of escalations, handovers and the inbox, scoped to what the viewer may see."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pipeline.auth.models import User
from pipeline.errors import NotFound, parse_id
from pipeline.escalations.models import Escalation, Handover
from pipeline.notifications.models import Notification
from pipeline.prospects.models import Prospect, StageEvent
from pipeline.prospects.queries import can_see, maintained_counts


def scope_escalations(stmt: Select, viewer: User) -> Select:
    """A manager sees escalations of their prospects, a lead the team's, a supervisor all."""
    if viewer.role in ("supervisor", "admin"):
        return stmt
    if viewer.role == "team_lead" and viewer.team_id is not None:
        return stmt.where(Escalation.team_id == viewer.team_id)
    return stmt.where(Escalation.owner_id == viewer.id)


def get_visible_escalation(session: Session, viewer: User, escalation_id: Any, *,
                           for_update: bool = False) -> Escalation:
    """The escalation if the viewer may see it; NotFound otherwise (never 403: no leaks)."""
    eid = parse_id(escalation_id, "escalation")
    stmt = scope_escalations(select(Escalation).where(Escalation.id == eid), viewer)
    if for_update:
        stmt = stmt.with_for_update()
    escalation = session.scalars(stmt).first()
    if escalation is None:
        raise NotFound("no such escalation")
    return escalation


def may_decide(viewer: User, prospect_team_id: int | None) -> bool:
    """The prospect's team lead decides at any level; supervisors and admins anywhere."""
    if viewer.role in ("supervisor", "admin"):
        return True
    return (viewer.role == "team_lead" and viewer.team_id is not None
            and viewer.team_id == prospect_team_id)


def queue(session: Session, viewer: User, *, level: int | None = None) -> list[tuple]:
    """Open escalations the viewer may decide, oldest first, with their prospect and
    owner: ``[(escalation, prospect, owner), ...]`` in one query."""
    stmt = (select(Escalation, Prospect, User)
            .join(Prospect, Prospect.id == Escalation.prospect_id)
            .join(User, User.id == Prospect.owner_id)
            .where(Escalation.status == "open"))
    if viewer.role == "team_lead":
        stmt = stmt.where(Prospect.team_id == viewer.team_id)
    elif viewer.role not in ("supervisor", "admin"):
        stmt = stmt.where(Prospect.owner_id == viewer.id)
    if level is not None:
        stmt = stmt.where(Escalation.level == level)
    # Second level first, then the oldest, then the longest overdue.
    stmt = stmt.order_by(Escalation.level.desc(), Escalation.opened_at, Escalation.due_at,
                         Escalation.id)
    return [tuple(row) for row in session.execute(stmt)]


def open_count(session: Session, viewer: User) -> int:
    """The nav badge: a lead's open team escalations, a supervisor's level-2 ones."""
    stmt = select(func.count()).select_from(Escalation).where(Escalation.status == "open")
    if viewer.role == "team_lead":
        stmt = stmt.where(Escalation.team_id == viewer.team_id)
    elif viewer.role == "supervisor":
        stmt = stmt.where(Escalation.level == 2)
    elif viewer.role != "admin":
        return 0
    return session.scalar(stmt) or 0


def histories(session: Session, prospect_ids: list[int]) -> dict[int, list[StageEvent]]:
    """History rows per prospect, in one query."""
    out: dict[int, list[StageEvent]] = {pid: [] for pid in prospect_ids}
    if not prospect_ids:
        return out
    for row in session.scalars(select(StageEvent).where(StageEvent.prospect_id.in_(prospect_ids))
                               .order_by(StageEvent.prospect_id, StageEvent.seq)):
        out[row.prospect_id].append(row)
    return out


def managers_by_team(session: Session, team_ids: set[int]) -> dict[int, list[tuple[User, int]]]:
    """Active managers of each team with the number of customers each maintains, what the
    cap counts (two queries, whatever the number of managers)."""
    out: dict[int, list[tuple[User, int]]] = {tid: [] for tid in team_ids}
    if not team_ids:
        return out
    managers = list(session.scalars(select(User).where(
        User.team_id.in_(team_ids), User.role == "manager", User.active.is_(True))
        .order_by(User.name)))
    counts = maintained_counts(session, [m.id for m in managers])
    for m in managers:
        out[m.team_id].append((m, counts[m.id]))
    return out


def users_by_id(session: Session, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def inbox(session: Session, user: User, *, limit: int = 100) -> list[Notification]:
    return list(session.scalars(
        select(Notification).where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def get_visible_handover(session: Session, viewer: User, handover_id: Any) -> Handover:
    """A handover the viewer took part in, or whose prospect's team they lead/supervise."""

    row = session.get(Handover, parse_id(handover_id, "handover"))
    if row is None:
        raise NotFound("no such handover")
    prospect = session.get(Prospect, row.prospect_id)
    if viewer.id in (row.from_user_id, row.to_user_id) or (prospect and can_see(viewer, prospect)):
        return row
    raise NotFound("no such handover")


def age(since: datetime | None, now: datetime) -> float | None:
    """Whole days (one decimal) from ``since`` to ``now``."""
    if since is None:
        return None
    return round((now - since).total_seconds() / 86400, 1)
