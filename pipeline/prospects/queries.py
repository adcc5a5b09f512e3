"""Reads of prospects, scoped to what the viewer may see."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.errors import NotFound
from pipeline.prospects.models import Prospect, StageEvent, StageRecord


def scope(stmt: Select, viewer: User) -> Select:
    """Restrict a select over Prospect to the viewer's prospects.

    A manager sees their own, a team lead their team's, a supervisor or admin the branch.
    """
    if viewer.role in ("supervisor", "admin"):
        return stmt
    if viewer.role == "team_lead":
        if viewer.team_id is None:
            return stmt.where(Prospect.owner_id == viewer.id)
        return stmt.where(Prospect.team_id == viewer.team_id)
    return stmt.where(Prospect.owner_id == viewer.id)


def can_see(viewer: User, prospect: Prospect) -> bool:
    if viewer.role in ("supervisor", "admin"):
        return True
    if viewer.role == "team_lead" and viewer.team_id is not None:
        return prospect.team_id == viewer.team_id
    return prospect.owner_id == viewer.id


def get_visible(session: Session, viewer: User, prospect_id: Any, *,
                for_update: bool = False) -> Prospect:
    """The prospect if the viewer may see it; NotFound otherwise (never 403: no leaks)."""
    try:
        pid = int(prospect_id)
    except (TypeError, ValueError):
        raise NotFound("no such prospect") from None
    stmt = scope(select(Prospect).where(Prospect.id == pid), viewer)
    if for_update:
        stmt = stmt.with_for_update()
    prospect = session.scalars(stmt).first()
    if prospect is None:
        raise NotFound("no such prospect")
    return prospect


def records_of(session: Session, prospect_ids: list[int]) -> dict[int, dict[str, dict]]:
    """Record data per prospect: ``{prospect_id: {record_key: data}}`` in one query."""
    out: dict[int, dict[str, dict]] = {pid: {} for pid in prospect_ids}
    if not prospect_ids:
        return out
    rows = session.execute(
        select(StageRecord.prospect_id, StageRecord.record_key, StageRecord.data)
        .where(StageRecord.prospect_id.in_(prospect_ids)))
    for pid, key, data in rows:
        out[pid][key] = data or {}
    return out


def history_of(session: Session, prospect_id: int) -> list[StageEvent]:
    return list(session.scalars(
        select(StageEvent).where(StageEvent.prospect_id == prospect_id)
        .order_by(StageEvent.seq)))


def filtered(viewer: User, *, stage: str | None = None, owner: str | None = None,
             team: str | None = None, status: str | None = None, tier: str | None = None,
             overdue: bool = False, q: str | None = None) -> Select:
    """The viewer's prospects with the list filters of the API and the board."""
    stmt = scope(select(Prospect), viewer)
    if stage:
        stmt = stmt.where(Prospect.stage == stage)
    if status:
        stmt = stmt.where(Prospect.status == status)
    if tier:
        stmt = stmt.where(Prospect.tier == tier)
    if owner:
        stmt = stmt.where(Prospect.owner_id == select(User.id).where(
            func.lower(User.email) == owner.lower()).scalar_subquery())
    if team:
        stmt = stmt.where(Prospect.team_id == select(Team.id).where(
            Team.name == team).scalar_subquery())
    if overdue:
        stmt = stmt.where(and_(Prospect.status == "active", Prospect.due_at < clock.now()))
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Prospect.name.ilike(f"%{escaped}%", escape="\\"))
    return stmt
