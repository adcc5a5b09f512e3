"""The complaint report and the root-cause list (溯源整改).

Read from the cases' rows, the complaints' own rows, the history (the ``win`` row settles
a complaint, ``extend`` rows extend it) and the records the workflow's ``dimensions`` name
(the channel and the cause): three queries whatever the number of complaints, then
grouped in Python (a branch receives complaints by the hundred, not the million; and the
records' JSON is read the same way on both databases).

Figures per group, over the complaints received in the period:

- ``received``; ``settled`` (settled by now);
- ``settled_in_time``: settled within the workflow's case limit (15 days) of receipt,
  and ``settled_in_time_pct``, its share of ``received`` (a complaint still open, or
  settled late, counts against it);
- ``extended``: complaints with at least one extension;
- ``median_days_to_settle``: over the settled ones, receipt to settling, in days.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import User
from pipeline.complaints.models import CauseAction, Complaint
from pipeline.complaints.services import WORKFLOW_KEY, engine
from pipeline.prospects import queries
from pipeline.prospects.models import Prospect, StageEvent, StageRecord

GROUPS = ("category", "cause", "channel", "manager")
RECUR_AT = 2  # a cause that comes back at least this often is a root cause to act on


@dataclass
class Line:
    """One complaint as the report reads it."""

    id: int
    received_at: datetime
    settled_at: datetime | None
    extended: bool
    values: dict[str, Any]


@dataclass
class Figures:
    group: str | None
    received: int = 0
    settled: int = 0
    settled_in_time: int = 0
    extended: int = 0
    days: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group, "received": self.received, "settled": self.settled,
            "settled_in_time": self.settled_in_time,
            "settled_in_time_pct": round(100 * self.settled_in_time / self.received, 1)
            if self.received else None,
            "extended": self.extended,
            "median_days_to_settle": round(statistics.median(self.days), 2)
            if self.days else None,
        }


def lines(session: Session, viewer: User, *, start: datetime | None = None,
          end: datetime | None = None) -> list[Line]:
    """The complaints the viewer may see received in [start, end), with what the report
    needs of each. Three queries."""
    wf = engine().workflow
    settled = select(StageEvent.prospect_id, func.min(StageEvent.at).label("at")) \
        .where(StageEvent.event == "win").group_by(StageEvent.prospect_id).subquery()
    extended = select(StageEvent.prospect_id, func.count().label("n")) \
        .where(StageEvent.event == "extend").group_by(StageEvent.prospect_id).subquery()
    stmt = (queries.scope(select(Prospect.id, Prospect.owner_id, Complaint.received_at,
                                 Complaint.category, settled.c.at, extended.c.n), viewer)
            .join(Complaint, Complaint.prospect_id == Prospect.id)
            .outerjoin(settled, settled.c.prospect_id == Prospect.id)
            .outerjoin(extended, extended.c.prospect_id == Prospect.id)
            .where(Prospect.workflow_key == WORKFLOW_KEY))
    if start is not None:
        stmt = stmt.where(Complaint.received_at >= start)
    if end is not None:
        stmt = stmt.where(Complaint.received_at < end)
    rows = session.execute(stmt.order_by(Prospect.id)).all()
    ids = [r.id for r in rows]
    by_record: dict[str, list[tuple[str, str]]] = {}
    for name, (record, fkey) in wf.dimensions.items():
        by_record.setdefault(record, []).append((name, fkey))
    facts: dict[int, dict[str, Any]] = {i: {} for i in ids}
    if ids and by_record:
        for pid, key, data in session.execute(
                select(StageRecord.prospect_id, StageRecord.record_key, StageRecord.data)
                .where(StageRecord.prospect_id.in_(ids),
                       StageRecord.record_key.in_(list(by_record)))):
            for name, fkey in by_record[key]:
                facts[pid][name] = (data or {}).get(fkey)
    managers = dict(session.execute(select(User.id, User.email).where(
        User.id.in_({r.owner_id for r in rows}))).all()) if rows else {}
    return [Line(r.id, r.received_at, r.at, bool(r.n),
                 {"category": r.category, "manager": managers.get(r.owner_id), **facts[r.id]})
            for r in rows]


def report(session: Session, viewer: User, *, by: str, start: datetime | None = None,
           end: datetime | None = None) -> dict[str, Any]:
    """The complaint figures grouped ``by`` one of :data:`GROUPS`, and over all."""
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    eng = engine()
    days_allowed = eng.workflow.case_limit.days if eng.workflow.case_limit else None
    total = Figures(None)
    groups: dict[Any, Figures] = {}
    for line in lines(session, viewer, start=start, end=end):
        key = line.values.get(by)
        for fig in (total, groups.setdefault(key, Figures(key))):
            fig.received += 1
            fig.extended += line.extended
            if line.settled_at is not None:
                fig.settled += 1
                fig.days.append((line.settled_at - line.received_at).total_seconds() / 86400)
                if days_allowed is not None and line.settled_at <= eng.calendar.add_days(
                        line.received_at, days_allowed):
                    fig.settled_in_time += 1
    ordered = sorted(groups.values(), key=lambda f: (-f.received, str(f.group)))
    return {"by": by, "limit_days": days_allowed, "as_of": clock.now().isoformat(),
            "total": total.as_dict(), "groups": [f.as_dict() for f in ordered]}


def root_causes(session: Session, viewer: User, *, start: datetime | None = None,
                end: datetime | None = None, at_least: int = RECUR_AT) -> list[dict[str, Any]]:
    """Causes that recur (at least ``at_least`` complaints in the period), most frequent
    first, each with its corrective actions and their owners."""
    counts: dict[str, int] = {}
    for line in lines(session, viewer, start=start, end=end):
        cause = line.values.get("cause")
        if cause:
            counts[cause] = counts.get(cause, 0) + 1
    recurring = [c for c, n in counts.items() if n >= at_least]
    actions = _actions(session, recurring)
    return [{"cause": c, "complaints": counts[c], "actions": actions.get(c, [])}
            for c in sorted(recurring, key=lambda c: (-counts[c], c))]


def _actions(session: Session, causes: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    causes = list(causes)
    if not causes:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for row, email, name in session.execute(
            select(CauseAction, User.email, User.name).join(User, User.id == CauseAction.owner_id)
            .where(CauseAction.workflow_key == WORKFLOW_KEY, CauseAction.cause.in_(causes))
            .order_by(CauseAction.created_at, CauseAction.id)):
        out.setdefault(row.cause, []).append({
            "id": row.id, "action": row.action, "owner": email, "owner_name": name,
            "created_at": row.created_at.isoformat(),
            "done_at": row.done_at.isoformat() if row.done_at else None})
    return out
