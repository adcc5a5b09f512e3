"""Reads of escalations, handovers and the inbox, scoped to what the viewer may see."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from pipeline.auth.models import Team, User
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


QUEUE_PAGE = 25  # escalations per page of a queue (each card carries its decision form)
QUEUE_SORTS = ("oldest", "newest")


@dataclass
class QueueFilters:
    """What a queue shows: level (1, 2), kind, team and manager (ids), the order by age
    (``oldest`` first unless ``newest``) and the page (from 1)."""

    level: int | None = None
    kind: str | None = None
    team_id: int | None = None
    owner_id: int | None = None
    sort: str = "oldest"
    page: int = 1


@dataclass
class QueuePage:
    rows: list[tuple]  # (escalation, prospect, owner)
    total: int  # open escalations under the filters
    page: int
    per_page: int
    level2: int  # of which second level

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def _queue_scope(stmt: Select, viewer: User) -> Select:
    if viewer.role == "team_lead":
        return stmt.where(Escalation.team_id == viewer.team_id)
    if viewer.role not in ("supervisor", "admin"):
        return stmt.where(Escalation.owner_id == viewer.id)
    return stmt


def queue(session: Session, viewer: User, filters: QueueFilters | None = None, *,
          per_page: int = QUEUE_PAGE) -> QueuePage:
    """One page of the open escalations the viewer may decide, with their prospect and
    owner (``[(escalation, prospect, owner), ...]``, one query), the number under the
    filters and how many of those are second level (one more query).

    Ordered by age: the longest open first (``sort="newest"``: the latest first), ties by
    id, so pages never overlap. A page past the last is the last."""
    f = filters or QueueFilters()
    where = [Escalation.status == "open"]
    if f.level in (1, 2):
        where.append(Escalation.level == f.level)
    if f.kind:
        where.append(Escalation.kind == f.kind)
    if f.team_id is not None:
        where.append(Escalation.team_id == f.team_id)
    if f.owner_id is not None:
        where.append(Escalation.owner_id == f.owner_id)
    counted = _queue_scope(select(func.count(), func.coalesce(func.sum(
        case((Escalation.level == 2, 1), else_=0)), 0)).select_from(Escalation).where(*where),
        viewer)
    total, level2 = session.execute(counted).one()
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(f.page, 1), pages)
    order = [Escalation.opened_at.desc(), Escalation.id.desc()] if f.sort == "newest" \
        else [Escalation.opened_at, Escalation.id]
    stmt = _queue_scope(
        select(Escalation, Prospect, User)
        .join(Prospect, Prospect.id == Escalation.prospect_id)
        .join(User, User.id == Prospect.owner_id)
        .where(*where), viewer).order_by(*order).offset((page - 1) * per_page).limit(per_page)
    return QueuePage([tuple(row) for row in session.execute(stmt)], total, page, per_page,
                     int(level2 or 0))


def queue_choices(session: Session, viewer: User, *, team_id: int | None = None
                  ) -> dict[str, list]:
    """The queue's filter choices in the viewer's scope: the kinds of open escalations,
    the teams (supervisor) and the managers (id, name) who own open escalations: a lead's
    team's, a supervisor's of the team chosen (none before one is: a province's
    managers by the thousand are no list to choose from)."""
    base = _queue_scope(select(Escalation.kind).where(Escalation.status == "open"), viewer)
    kinds = sorted(session.scalars(base.distinct()))
    owners: list[tuple] = []
    if viewer.role not in ("supervisor", "admin") or team_id is not None:
        owned = _queue_scope(select(Escalation.owner_id).where(Escalation.status == "open"),
                             viewer)
        if team_id is not None:
            owned = owned.where(Escalation.team_id == team_id)
        owners = [tuple(r) for r in session.execute(
            select(User.id, User.name).where(User.id.in_(owned)).order_by(User.name, User.id))]
    teams: list[tuple] = []
    if viewer.role in ("supervisor", "admin"):
        teams = [tuple(r) for r in session.execute(select(Team.id, Team.name)
                                                    .order_by(Team.name))]
    return {"kinds": kinds, "owners": owners, "teams": teams}


def decidable(session: Session, viewer: User, ids: list[int]) -> dict[int, tuple]:
    """``{escalation id: (escalation, prospect name)}`` of those ``ids`` the viewer sees."""
    if not ids:
        return {}
    stmt = _queue_scope(select(Escalation, Prospect.name)
                        .join(Prospect, Prospect.id == Escalation.prospect_id)
                        .where(Escalation.id.in_(ids)), viewer)
    return {esc.id: (esc, name) for esc, name in session.execute(stmt)}


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


def histories(session: Session, prospect_ids: list[int], *, latest: int | None = None
              ) -> dict[int, list[StageEvent]]:
    """History rows per prospect, in order, in one query: the ``latest`` of each only when
    given (the database leaves the older ones out)."""
    out: dict[int, list[StageEvent]] = {pid: [] for pid in prospect_ids}
    if not prospect_ids:
        return out
    stmt = select(StageEvent).where(StageEvent.prospect_id.in_(prospect_ids))
    if latest is not None:
        rank = func.row_number().over(partition_by=StageEvent.prospect_id,
                                      order_by=StageEvent.seq.desc()).label("rank")
        newest = select(StageEvent.id, rank).where(
            StageEvent.prospect_id.in_(prospect_ids)).subquery()
        stmt = stmt.join(newest, newest.c.id == StageEvent.id).where(newest.c.rank <= latest)
    for row in session.scalars(stmt.order_by(StageEvent.prospect_id, StageEvent.seq)):
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


INBOX_PAGE = 200  # notifications per inbox page (before grouping)


def inbox(session: Session, user: User, *, unread: bool = False, kind: str | None = None,
          before: int | None = None, limit: int = INBOX_PAGE) -> list[Notification]:
    """The user's notifications, newest first: only unread ones, of one kind, older than
    the notification ``before`` (the next page) as asked."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))


def inbox_kinds(session: Session, user: User) -> list[str]:
    """The kinds of notification the user has (the inbox's filter)."""
    return sorted(session.scalars(select(Notification.kind).where(
        Notification.user_id == user.id).distinct()))


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
